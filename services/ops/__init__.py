"""Operator tooling: the service runner, dead-letter tools, the demo summary."""
