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
