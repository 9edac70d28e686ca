"""One exception type for user-facing errors; the CLI turns it into one message."""

import os


class TinymlError(Exception):
    """A problem the user can fix (bad file, missing board, unsupported op).

    detail: longer text behind the message (a board's own traceback), shown with --debug."""

    def __init__(self, message: str, detail: str | None = None):
        super().__init__(message)
        self.detail = detail


DEBUG_ENV = "TINYML_DEBUG"


def debug_requested(flag: bool = False) -> bool:
    """--debug, or TINYML_DEBUG set to anything but empty or 0: show tracebacks."""
    return flag or os.environ.get(DEBUG_ENV, "") not in ("", "0")
