"""Errors meant for the user: one line, no traceback (the CLI turns them into exit code 2)."""


class UserError(Exception):
    """Bad input or an impossible request, explained in one line the user can act on."""


class InputImageError(UserError):
    """The photo cannot be read, or holds nothing usable."""


class NoPersonError(UserError):
    """No person could be found in the photo."""


class MeshInputError(UserError):
    """A user-supplied mesh cannot be read or used."""


class SeveralPeopleError(UserError):
    """The photo shows more than one person of about the same size."""


def brief(e: BaseException) -> str:
    """An exception in one line for a user-facing note: its type and the first line of its message."""
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
