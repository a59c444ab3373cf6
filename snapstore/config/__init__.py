"""The user's configuration: defaults, the TOML file, environment variables and flags."""
