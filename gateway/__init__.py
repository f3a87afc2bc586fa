"""The one door to Temporal for callers of workflows: the API, and the activities that start workflows.

Every start, signal, update and query of a workflow from outside it goes through here, with names and
IDs from `domain.contract`. A workflow's refusal arrives as a typed error (`gateway.errors`) that the
caller matches on; the API turns those into HTTP answers in one place (`api/problems.py`).
"""
