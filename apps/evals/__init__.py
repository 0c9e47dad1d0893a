"""Evals: measure models on a dataset with each task's metric (evaluate), from the app and `python app.py eval`."""
