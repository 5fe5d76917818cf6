"""Files written whole or not at all: to a temporary name beside the target, flushed to disk, then
renamed into place, so a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: str | os.PathLike[str], data: bytes | Callable[[str], None]) -> Path:
    """Write `data` (bytes, or a function that writes the file at the temporary path it is given) to
    `path`; the folder is created when missing. Returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        if callable(data):
            os.close(fd)
            data(temporary)
            fd = os.open(temporary, os.O_RDONLY)
        else:
            with os.fdopen(fd, "wb", closefd=False) as handle:
                handle.write(data)
                handle.flush()
        os.fsync(fd)
        os.close(fd)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
