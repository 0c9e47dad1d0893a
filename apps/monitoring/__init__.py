"""Monitoring: Prometheus metrics (`GET /metrics`), the counting seam every endpoint passes through."""
