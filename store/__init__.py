"""Persistence: tables, sessions, repositories and migrations (SQLite or PostgreSQL)."""
