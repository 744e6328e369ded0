"""Errors an operator can act on.

Anything raised as an :class:`AdinsightsError` is printed by the CLI as one line (``adinsights:
error: ...``) with a non-zero exit, never as a traceback. Messages must not contain secrets.
"""


class AdinsightsError(Exception):
    """An error with a message fit for an operator."""


class ConfigError(AdinsightsError):
    """Settings are missing, malformed or point at something unusable."""


class DatabaseUnavailable(AdinsightsError):
    """The configured database cannot be reached."""
