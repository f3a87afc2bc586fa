"""Pure business model of orderflow: no I/O, safe inside the workflow sandbox."""
