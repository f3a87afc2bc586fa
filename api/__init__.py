"""HTTP API: thin translation between requests and workflows or the read model."""
