"""Gradio pieces every tab shares: input/output components, the model header and picker, error display."""
