"""Errors a user can cause; the CLI prints their message and exits non-zero, never a traceback."""


class UserError(Exception):
    """Something the person asked for cannot be done; the message says what and why."""

    exit_code = 2


class NotFound(UserError):
    pass


class Rejected(UserError):
    """A workflow refused the request (its validator or a rule); the message is the workflow's."""
