"""Shared building blocks: settings, model references, the model manager and input helpers."""
