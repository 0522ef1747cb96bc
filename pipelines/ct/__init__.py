"""Continuous training: when to start a run (triggers), what the checks measure (monitoring), replay."""
