"""Errors a user can fix. The CLIs print their message as one line and exit 2; nothing else is caught."""


class ConfigError(ValueError):
    """A configuration value or command-line argument the user must fix; the message says how."""
