"""Activities: one module per outside party; every side effect keyed by business identity."""
