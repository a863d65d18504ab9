"""How dcnmix touches the file system: one discipline for every write, read-back and folder
it owns. Framework-free, stdlib only.

    write_bytes(path, data)     a temporary in the target folder (mkstemp: created new, never
                                through a link), fsync, renamed over the final name: a link
                                planted there is replaced, never followed; an error names
                                `path`, not the temporary
    writing(path)               the same for writers that stream (Parquet, CSV, PNG)
    open_lock(path)             a lock file opened without following a link (O_NOFOLLOW)
    probe(folder)               a pre-flight write + fsync at a unique temporary name
    check_folder(folder)        an output folder that is itself a symbolic link is refused
                                unless allowed (allow_links=True, or DCNMIX_ALLOW_LINKS=1)
    read_bytes(path, limit=)    regular files only (a FIFO or a device would block or never
                                end), at most `limit` bytes
    swap_in(new, out)           put a finished folder in the place of `out`: an atomic
                                exchange (Linux renameat2) when `out` exists, the old folder
                                removed only after the swap succeeded
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import stat
import tempfile

TMP_PREFIX = ".tmp-"
JSON_LIMIT = 1 << 30          # a run folder's JSON files (feature maps of big vocabularies)
STATE_LIMIT = 1 << 36         # weights and checkpoint states


class PathError(ValueError):
    """A path dcnmix refuses to write or read (a link, not a regular file, too large, or a
    folder it does not own); the message names the path."""



def cache_root() -> str:
    """The user's cache folder for dcnmix: $DCNMIX_CACHE, else $XDG_CACHE_HOME/dcnmix, else
    ~/.cache/dcnmix (prepared data, frames, compiled programs)."""
    if os.environ.get("DCNMIX_CACHE"):
        return os.environ["DCNMIX_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "dcnmix")

def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _named(exc: OSError, path: str) -> OSError:
    """The same error, naming the file meant (not a temporary)."""
    return OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}")


@contextlib.contextmanager
def _temporary(path):
    """(fd, name) of a fresh temporary beside `path` (mode: what a plain open() gives),
    renamed over `path` when the block ends without error; removed otherwise."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=TMP_PREFIX, suffix="-" + os.path.basename(path))
        os.fchmod(fd, 0o666 & ~_umask())
        yield fd, tmp
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise _named(exc, path) from None
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def writing(path, mode: str = "wb"):
    """A file object at a fresh temporary beside `path`, fsynced and renamed over `path`
    once the block ends without error; on error the temporary is removed."""
    with _temporary(path) as (fd, _):
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())


@contextlib.contextmanager
def temporary_path(path):
    """A fresh temporary file name beside `path` for a library that opens files by name
    (pyarrow's writers): renamed over `path` when the block ends without error."""
    with _temporary(path) as (fd, tmp):
        os.close(fd)
        yield tmp


def write_bytes(path, data: bytes) -> None:
    """`data` at `path`, atomically (see the module docstring)."""
    with writing(path) as fh:
        fh.write(data)


def open_lock(path):
    """A read/write file object on a lock file, created if absent; a link at `path` is
    refused (O_NOFOLLOW), so a planted link cannot make the lock write elsewhere."""
    path = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PathError(f"{path}: is a symbolic link; dcnmix does not write through links "
                            "(remove it)") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise PathError(f"{path}: not a regular file")
    return os.fdopen(fd, "r+")


def probe(folder, size: int = 65536) -> None:
    """Write and fsync `size` bytes at a unique temporary name in `folder`, then remove it:
    an unwritable folder or a full disk fails here (the OSError as raised; the caller names
    the folder, as RunFolder.prepare does)."""
    folder = os.fspath(folder)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=TMP_PREFIX, suffix="-probe")
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"\0" * size)
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)


def links_allowed() -> bool:
    return os.environ.get("DCNMIX_ALLOW_LINKS", "") not in ("", "0")


def check_folder(folder, *, allow_links: bool | None = None) -> None:
    """Refuse an output folder that is a symbolic link (the writes would land wherever it
    points) unless allowed; a path that exists and is not a folder is refused too."""
    folder = os.fspath(folder)
    allow = links_allowed() if allow_links is None else allow_links
    if os.path.islink(folder) and not allow:
        raise PathError(f"{folder}: the output folder is a symbolic link (to "
                        f"{os.readlink(folder)}); give the real folder, or set "
                        "DCNMIX_ALLOW_LINKS=1 to write through it")
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise PathError(f"{folder}: exists and is not a folder")


def read_bytes(path, *, limit: int = JSON_LIMIT) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; a FIFO, a device, a folder or a
    larger file is a PathError naming it (never a hang or an unbounded read)."""
    path = os.fspath(path)
    size = check_regular(path, limit=limit)
    with open(path, "rb") as fh:
        data = fh.read(size + 1)            # a file that grew since is caught below
    if len(data) > limit:
        raise PathError(f"{path}: larger than {limit:,} bytes")
    return data


def file_sha256(path) -> str:
    """The sha256 (hex) of a file, read 16 MiB at a time."""
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()


def check_regular(path, *, limit: int = STATE_LIMIT) -> int:
    """The size of `path`; a PathError unless it is a regular file (after links) of at most
    `limit` bytes; FileNotFoundError (an OSError) when it does not exist."""
    path = os.fspath(path)
    info = os.stat(path)
    if stat.S_ISDIR(info.st_mode):
        raise PathError(f"{path}: is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise PathError(f"{path}: not a regular file (a FIFO, socket or device); refused")
    if info.st_size > limit:
        raise PathError(f"{path}: {info.st_size:,} bytes, larger than the {limit:,} allowed")
    return info.st_size


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: str, b: str) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, f"cannot replace {b}: {os.strerror(code)}")


def swap_in(new: str, out: str) -> None:
    """Put the complete folder `new` in the place of `out`. When `out` exists the two are
    exchanged atomically, then the old contents (now at `new`) are removed: at every moment
    `out` is either the old folder or the new one. Without renameat2 the old folder is
    renamed aside first and removed after."""
    if not os.path.lexists(out):
        os.rename(new, out)
        return
    if _exchange(new, out):
        shutil.rmtree(new)
        return
    aside = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(out)), prefix=TMP_PREFIX + "old-")
    old = os.path.join(aside, "old")
    os.rename(out, old)
    try:
        os.rename(new, out)
    except BaseException:
        os.rename(old, out)            # the old folder back in its place
        os.rmdir(aside)
        raise
    shutil.rmtree(aside)


def remove(path: str) -> None:
    """Remove a file, a link (never what it points to) or a folder tree."""
    if os.path.islink(path) or not os.path.isdir(path):
        os.unlink(path)
    else:
        shutil.rmtree(path)
