"""Business rules at work: conditions compiled and checked (conditions.py), evaluated per order (engine.py)."""
