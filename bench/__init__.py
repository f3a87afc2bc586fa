"""`make bench`: a private dev stack, the bare-Temporal floors and orderflow measured in one run."""
