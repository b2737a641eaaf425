"""The one error type users see: a single line naming what and where; the CLI turns it into exit code 2."""


class UserError(Exception):
    """Bad input from a user (file, config, flag, request): shown as one line, never a traceback."""

    exit_code = 2
