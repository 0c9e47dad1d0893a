"""One module per task: its task function (typed in, typed out, no UI) and its tab (`build_tab`)."""
