"""Payer gateway: pure X12 logic (837P writer, 835 / 277CA / 999 readers).

Nothing in this package imports Faust or Kafka; the service wiring lives elsewhere."""
