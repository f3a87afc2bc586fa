"""One module per phase of a run; each takes the stack and returns its figures as a dict."""
