"""UserError: every error a user can cause, printed as one line (exit 2) wherever it is raised."""


class UserError(Exception):
    """Bad input, missing files or an unreachable service: the message says what to fix."""


class ConfigError(UserError, ValueError):
    """A config key, value or command-line argument that cannot be used."""
