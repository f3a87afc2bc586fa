"""`make bench` (`python -m bench`): start a private dev stack and measure, in one run,

1. floor         bare five-activity workflows on the same server and worker settings (and the same
                 with local activities);
2. submit        the bare start-only endpoint against the real POST /v1/orders, one client and many;
3. orderflow     real orders through the HTTP API, warehouse in auto mode, submission to `completed`;
4. parked        orders waiting for pick confirmation: worker memory and new-order latency.

Prints a summary and writes the same as JSON under bench/results/ for comparing runs.
"""
