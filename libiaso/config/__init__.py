"""Configuration: the YAML file, its environments, credentials and API profiles."""
