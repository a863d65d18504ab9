"""DataFrames in: a polars or pandas DataFrame, or an Arrow table, of raw columns goes through
`prepare` like a file. It is written once to a Parquet file in the cache, named by the
sha256 of its bytes ($DCNMIX_CACHE, default ~/.cache/dcnmix, /frames), so the same frame is
prepared once and a run folder records a spec (parquet:PATH) that reloads it."""
from __future__ import annotations

import hashlib
import os
import tempfile

from ..files import cache_root
from .specs import DataSpec


def is_frame(data) -> bool:
    """Whether `data` is a polars or pandas DataFrame or an Arrow table."""
    module = type(data).__module__.split(".")[0]
    return module in ("polars", "pandas", "pyarrow") and hasattr(data, "columns")


def to_arrow(data):
    import pyarrow as pa
    module = type(data).__module__.split(".")[0]
    if module == "polars":
        return data.to_arrow()
    if module == "pandas":
        return pa.Table.from_pandas(data, preserve_index=False)
    return data


def frame_file(data, log=print) -> str:
    """The Parquet file holding `data` in the cache (written, then renamed, once)."""
    import pyarrow.parquet as pq
    folder = os.path.join(cache_root(), "frames")
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(to_arrow(data), tmp)
        digest = hashlib.sha256()
        with open(tmp, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 24), b""):
                digest.update(block)
        path = os.path.join(folder, f"{digest.hexdigest()[:20]}.parquet")
        if os.path.exists(path):
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
            log(f"frame of {len(data):,} rows -> {path}")
        return path
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def frame_spec(data, *, split_seed: int = 0, log=print, **options) -> DataSpec:
    """The DataSpec (parquet:PATH in the cache) of a frame and its DataOptions."""
    return DataSpec(spec=f"parquet:{frame_file(data, log)}", split_seed=split_seed, **options)
