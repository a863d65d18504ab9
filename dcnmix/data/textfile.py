"""Open plain or gzip text files line by line, refusing undecodable bytes with file and line."""
from __future__ import annotations

import gzip
import os
import zlib
from typing import Iterator

from .errors import DataError


def _opener(path: str):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open if magic == b"\x1f\x8b" else open


def read_lines(path) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, text without its CR/LF) of a UTF-8 file, gzip or plain."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(path, None, "no such file")
    lineno = 0
    try:
        with _opener(path)(path, "rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DataError(path, lineno, f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
                yield lineno, text.rstrip("\r\n")
    except (OSError, EOFError, zlib.error) as exc:  # truncated or corrupt gzip stream
        raise DataError(path, lineno + 1, f"cannot read file: {exc}") from None
