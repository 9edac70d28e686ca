"""One exception type for user-facing errors; the CLI turns it into one message."""


class TinymlError(Exception):
    """A problem the user can fix (bad file, missing board, unsupported op)."""
