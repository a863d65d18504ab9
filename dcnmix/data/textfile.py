"""Open plain or gzip text files line by line, refusing undecodable bytes with file and line."""
from __future__ import annotations

import gzip
import os
import zlib
from typing import Iterator

from .errors import DataError, not_a_file


def _opener(path: str):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open if magic == b"\x1f\x8b" else open


def stamp(path: str) -> tuple[int, int]:
    """(size, mtime in ns) of a file: compared before and after a read."""
    info = os.stat(path)
    return info.st_size, info.st_mtime_ns


def check_unchanged(path: str, before: tuple[int, int]) -> None:
    """A DataError when the file's size or modification time moved since `before`
    (a file truncated or appended to while it was read would otherwise load in part)."""
    after = stamp(path)
    if after != before:
        raise DataError(path, None, f"the file changed while it was read ({before[0]:,} bytes "
                                    f"at the start, {after[0]:,} at the end); read it again "
                                    "once it is complete")


def read_whole(path) -> bytes | None:
    """A file's bytes (gunzipped), read at once; None when it cannot be read whole (a
    corrupt or truncated gzip stream, a read error) or changed while it was read: the caller
    then reads it with read_lines, which names the line."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(path, None, not_a_file(path))
    before = stamp(path)
    try:
        with _opener(path)(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError, zlib.error):
        return None
    return data if stamp(path) == before else None


def read_lines(path) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, text without its CR/LF) of a UTF-8 file, gzip or plain;
    a file that changes while it is read is a DataError once its end is reached."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(path, None, not_a_file(path))
    before = stamp(path)
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
    check_unchanged(path, before)
