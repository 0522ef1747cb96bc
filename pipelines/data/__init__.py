"""Data: what a dataset looks like (DatasetSpec), its time spans on disk, candidate schemas."""
