"""`python app.py COMMAND`: the subcommands besides serving (find, estimate, download, deploy)."""
