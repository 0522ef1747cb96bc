"""What a person reads: the end-of-run summary (console, JSON) and one HTML page per node."""
