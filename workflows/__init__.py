"""Temporal workflows: deterministic glue between the domain and the activities."""
