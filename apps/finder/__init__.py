"""The model finder: Hub search (`hub`), memory estimates (`estimate`) and its tab (`tab`)."""
