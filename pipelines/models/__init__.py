"""User functions of Transform (preprocessing) and Trainer (model), by dotted path."""
