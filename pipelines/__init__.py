"""Pipeline definition, configuration, data preparation and the CLI."""
