"""The source files read beside the parsing, in a thread (hashlib and numpy free the GIL):
sha256 and size of each, and for plain Criteo files the column count of every line (polars
fills a short row's missing columns with nulls, so a wrong count is caught here)."""
from __future__ import annotations

import hashlib
import os
import threading

import numpy as np

from ..errors import DataError
from ..tabular import CRITEO_FIELDS
from .options import PrepareOptions
from .readers import is_gzip

READ = 1 << 24      # bytes read at a time


class TabCounter:
    """Tabs per line of a Criteo file, vectorised; the first line with the wrong number of
    columns is kept (1-based line, columns)."""

    def __init__(self, expected: int):
        self.expected, self.line, self.carry, self.bad = expected, 0, 0, None

    def update(self, block: bytes) -> None:
        if self.bad is not None or not block:
            return
        data = np.frombuffer(block, np.uint8)
        ends, tabs = np.flatnonzero(data == 10), np.flatnonzero(data == 9)
        before = np.searchsorted(tabs, ends)          # tabs before each line end
        per_line = np.diff(before, prepend=0)
        if len(ends):
            per_line[0] += self.carry
            wrong = np.flatnonzero(per_line != self.expected)
            if wrong.size:
                self.bad = (self.line + int(wrong[0]) + 1, int(per_line[wrong[0]]) + 1)
            self.carry = len(tabs) - int(before[-1])
        else:
            self.carry += len(tabs)
        self.line += len(ends)

    def finish(self, last_byte_newline: bool) -> None:
        if self.bad is None and not last_byte_newline and self.carry != self.expected:
            self.bad = (self.line + 1, self.carry + 1)


def _scan(path: str, opt: PrepareOptions) -> dict:
    h, counter, last, size = hashlib.sha256(), TabCounter(len(CRITEO_FIELDS)), b"\n", 0
    check = opt.kind == "criteo" and not is_gzip(path)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(READ), b""):
            h.update(block)
            size += len(block)
            if check:
                counter.update(block)
            last = block[-1:]
    counter.finish(last == b"\n")
    return {"path": os.path.abspath(path), "size": size, "sha256": h.hexdigest(),
            "bad_line": counter.bad if check else None}


def scan_sources(paths, opt: PrepareOptions) -> tuple[threading.Thread, dict]:
    """Start scanning `paths`; the dict fills with {path: {path, size, sha256, bad_line}}."""
    out: dict = {}

    def work():
        for path in paths:
            out[path] = _scan(path, opt)
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread, out


def check_scan(thread: threading.Thread, sources: dict, stamps: dict) -> None:
    """Wait for the scan; a DataError if a file's size moved since `stamps`, or a Criteo
    line has the wrong number of columns. Leaves each source's {path, size, sha256}."""
    thread.join()
    for path, info in sources.items():
        if info["size"] != stamps[path][0]:
            raise DataError(path, None, f"the file changed while it was read ({stamps[path][0]:,} "
                                        f"bytes at the start, {info['size']:,} hashed)")
        bad = info.pop("bad_line", None)
        if bad:
            raise DataError(path, bad[0], f"row has {bad[1]} tab-separated columns, expected "
                                          f"{len(CRITEO_FIELDS) + 1} (label, I1-I13, C1-C26)")
