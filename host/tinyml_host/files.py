"""Writing the user's files so that nothing is lost: every model, dataset take, report and CSV the
host writes goes through atomic_write, so a reader (or a crash, or Ctrl-C) never meets half a file
and an earlier file of the same name stays whole until the new one is complete."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Union

Content = Union[bytes, str, Callable[[BinaryIO], None]]


def atomic_write(path, content: Content) -> Path:
    """`content` (bytes, text as UTF-8, or a function that writes to a binary file) into `path`:
    written to a temporary file beside it, flushed to the drive (fsync), then renamed over it.
    Makes the parent folders. On any error the temporary file is removed and `path` is as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content.encode() if isinstance(content, str) else content)
            f.flush()
            os.fsync(f.fileno())
            # mkstemp makes the file 0600; the user's files get the mode a plain open() would
            # give them (0666 less the umask)
            os.fchmod(f.fileno(), 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
