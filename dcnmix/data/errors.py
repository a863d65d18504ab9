"""The one exception type every loader raises for bad input."""
from __future__ import annotations


class DataError(ValueError):
    """Bad input data; the message names the file, the line (1-based) and what was wrong."""

    def __init__(self, path, line: int | None, message: str):
        self.path = str(path)
        self.line = line
        self.reason = message
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {message}")


def not_a_file(path) -> str:
    """Why `path` cannot be read as a data file: a folder, something other than a regular
    file (a FIFO or a device), or absent."""
    import os
    import stat
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "no such file"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    return "not a regular file (a FIFO, socket or device)"
