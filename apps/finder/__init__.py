"""The model finder: its task functions (`task`), Hub search (`hub`), memory estimates (`estimate`), its tab (`tab`)."""
