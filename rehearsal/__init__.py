"""The peak-day rehearsal: a whole business day, faults included, replayed in minutes and scored.

    python -m rehearsal [--orders 1000] [--hours 12] [--speed 90] [--seed 7] [--postgres] [--no-FAULT ...]

Starts its own stack as `make bench` does (Temporal dev server, workers, API, a fake external TMS), loads a
catalogue, two warehouses and stock, plays the day's demand through the API at `--speed` times real time
with every business timer compressed by the same factor (config.Settings.time_scale), lets simulated
people work the exception queue and the manual warehouse's pick lists, then scores the day with the KPI
code and checks its integrity. Writes report.md, report.json and day.svg under .rehearsals/<time>/ and
exits non-zero when an integrity check fails. docs/rehearsal.md explains every number.
"""
