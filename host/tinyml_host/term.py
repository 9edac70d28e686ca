"""Terminal output for people: every command's text fits WIDTH columns.

One width for the whole CLI: the terminal's, capped at WIDTH; when output is not a terminal
(a pipe, a file, CI, a test) exactly WIDTH, so what a command prints does not depend on where
it runs. Tables go through console() (rich folds cells to fit); prose through say(), which
wraps at word boundaries and never breaks a path or a command in the middle.
"""

from __future__ import annotations

import shutil
import sys
import textwrap

WIDTH = 100


def width() -> int:
    """Columns to lay out for: the terminal's, at most WIDTH; WIDTH when stdout is not a terminal."""
    try:
        tty = sys.stdout.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stdout
        tty = False
    if not tty:
        return WIDTH
    return max(40, min(WIDTH, shutil.get_terminal_size((WIDTH, 24)).columns))


def console(stderr: bool = False):
    """A rich Console laid out for width() columns (a new one per call: sys.stdout may change)."""
    from rich.console import Console

    return Console(width=width(), stderr=stderr)


def table(**options):
    """A rich Table in the CLI's compact style: a rule under the header, no outer frame, two
    spaces between columns (so a wide table still fits WIDTH)."""
    from rich import box
    from rich.table import Table

    return Table(**{"box": box.SIMPLE, "show_edge": False, "pad_edge": False, "collapse_padding": True,
                    **options})


def show(*renderables, console=None) -> None:
    """Print rich renderables (tables) laid out for width() columns, without the spaces rich pads
    each line with to the table's width."""
    console = console or globals()["console"]()
    with console.capture() as captured:
        console.print(*renderables)
    text = "\n".join(line.rstrip() for line in captured.get().split("\n"))
    console.file.write(text)
    console.file.flush()


def wrap(text: str, indent: str = "", first: str | None = None) -> str:
    """`text` folded to width() columns; continuation lines start with `indent`, the first with
    `first` (default none: a hanging indent). Words longer than a line (a path) stay whole."""
    return textwrap.fill(text, width=width(), initial_indent="" if first is None else first,
                         subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


def say(text: str = "", indent: str = "", first: str | None = None, file=None) -> None:
    """print() for prose: each paragraph of `text` (split at newlines) folded to width()."""
    lines = [wrap(part, indent, first) if part.strip() else "" for part in text.split("\n")]
    print("\n".join(lines), file=file or sys.stdout, flush=True)


def relative(text: str) -> str:
    """`text` with the paths under the current folder made relative to it."""
    import os

    here = os.getcwd().rstrip(os.sep) + os.sep
    for before in (" ", "=", "'"):
        text = text.replace(before + here, before)
    return text[len(here):] if text.startswith(here) else text


def shell(command: str) -> str:
    """A shell command to copy and run from the current folder: its paths relative to it, folded
    at spaces with a backslash, continuation lines indented."""
    lines = textwrap.wrap(relative(command), width=width() - 2, subsequent_indent="    ",
                          break_long_words=False, break_on_hyphens=False)
    return " \\\n".join(lines)
