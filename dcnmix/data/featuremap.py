"""The feature map: how raw columns become the model's ids, saved beside prepared data and
in every run folder (feature_map.json), so new raw rows can be encoded the same way.

Per field (the vocabulary's rule, dcnmix.data.vocab): local id 0 is *missing* (empty),
1 is *out of vocabulary* (seen fewer than min_count times in the training rows, or never),
2.. the kept tokens, most frequent first, ties by token. Numeric fields are log-bucketed
first (floor(ln(v)^2) for v > 2, else floor(v); tokens 'L<n>' / 'V<n>'). Fields are stacked:
global id = offset + local id. libfm data has its ids already (kind 'given').

Encoding works on pyarrow arrays, vectorised (no Python loop over rows).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from typing import Sequence

import numpy as np

from .vocab import FIRST_TOKEN, MISSING, OOV

KINDS = ("categorical", "numeric", "hashed", "given")
FNV_OFFSET, FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)


@dataclasses.dataclass(frozen=True)
class Field:
    """One column's vocabulary: kept tokens (local id = 2 + position) and their counts."""

    name: str
    kind: str
    tokens: tuple = ()
    counts: tuple = ()
    buckets: int = 0            # kind 'hashed': local id = 2 + fnv1a64(token) % buckets

    @property
    def cardinality(self) -> int:
        return FIRST_TOKEN + (self.buckets if self.kind == "hashed" else len(self.tokens))


def fnv1a64(column) -> np.ndarray:
    """FNV-1a 64-bit hashes (uint64) of a polars String Series' UTF-8 bytes, vectorised over
    rows (a loop over byte positions only). Stable across versions and platforms, unlike
    polars' own hash. Nulls hash as the empty string (the caller masks them)."""
    import pyarrow as pa
    arrow = column.fill_null("").to_arrow().cast(pa.large_string())
    if isinstance(arrow, pa.ChunkedArray):
        arrow = arrow.combine_chunks()
    offsets = np.frombuffer(arrow.buffers()[1], np.int64)[arrow.offset:arrow.offset + len(arrow) + 1]
    data = np.frombuffer(arrow.buffers()[2], np.uint8) if arrow.buffers()[2] else np.zeros(0, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    h = np.full(len(arrow), FNV_OFFSET, np.uint64)
    with np.errstate(over="ignore"):
        for j in range(int(lengths.max(initial=0))):
            live = np.flatnonzero(lengths > j)
            h[live] = (h[live] ^ data[starts[live] + j].astype(np.uint64)) * FNV_PRIME
    return h


def numeric_keys(values: np.ndarray) -> np.ndarray:
    """int64 keys of the log buckets of float values (NaN = missing -> any key; mask it):
    2n+1 for 'L<n>' (v > 2, n = floor(ln(v)^2)), 2 floor(v) for 'V<floor(v)>'."""
    v = np.asarray(values, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        big = v > 2
        n = np.floor(np.log(np.where(big, v, 3.0)) ** 2)
        small = np.floor(np.where(big, 0.0, np.nan_to_num(v)))
    return np.where(big, 2 * n.astype(np.int64) + 1, 2 * small.astype(np.int64))


def key_token(key: int) -> str:
    """The vocabulary token of a numeric key ('L<n>' or 'V<n>', as vocab.bucketize)."""
    return f"L{key >> 1}" if key & 1 else f"V{key >> 1}"


def token_key(token: str) -> int:
    n = int(token[1:])
    return 2 * n + 1 if token[0] == "L" else 2 * n


@dataclasses.dataclass(frozen=True)
class FeatureMap:
    """Fields with their vocabularies, and what produced them (data/split/rows/sources)."""

    fields: tuple[Field, ...]
    min_count: int
    label: str = "label"
    given_feat_dim: int | None = None       # libfm: the ids' own range
    info: dict = dataclasses.field(default_factory=dict, compare=False)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def cardinalities(self) -> tuple[int, ...]:
        if self.given_feat_dim is not None:
            return tuple(int(c) for c in self.info.get("cardinalities", [0] * len(self.fields)))
        return tuple(f.cardinality for f in self.fields)

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum([f.cardinality for f in self.fields])[:-1]]
                              ).astype(np.int64)

    @property
    def feat_dim(self) -> int:
        if self.given_feat_dim is not None:
            return self.given_feat_dim
        return int(sum(f.cardinality for f in self.fields))

    # ------------------------------------------------------------------ encoding
    @functools.cached_property
    def _lookup(self) -> list:
        """Per field: a polars frame token -> local id (categorical), or (sorted keys,
        order) (numeric), built once."""
        import polars as pl
        out = []
        for f in self.fields:
            if f.kind in ("hashed", "given"):
                out.append(None)
            elif f.kind == "numeric":
                keys = np.array([token_key(t) for t in f.tokens], np.int64)
                order = np.argsort(keys, kind="stable")
                out.append((keys[order], order))
            else:
                out.append(pl.DataFrame({"token": pl.Series(f.tokens, dtype=pl.String),
                                         "local": np.arange(FIRST_TOKEN, f.cardinality,
                                                            dtype=np.int64)}))
        return out

    def encode_column(self, index: int, column) -> np.ndarray:
        """Local ids (int64) of one raw polars Series (strings; floats for numeric fields;
        null = missing)."""
        import polars as pl
        f = self.fields[index]
        missing = column.is_null().to_numpy()
        if f.kind == "hashed":
            local = FIRST_TOKEN + (fnv1a64(column.cast(pl.String)) % np.uint64(f.buckets)).astype(np.int64)
            return np.where(missing, MISSING, local).astype(np.int64)
        if f.kind == "numeric":
            column = column.cast(pl.Float64)
            missing |= column.is_nan().fill_null(False).to_numpy()      # NaN scores as missing
            keys = numeric_keys(column.cast(pl.Float64).fill_null(0).to_numpy())
            sorted_keys, order = self._lookup[index]
            if len(sorted_keys):
                pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
                local = np.where(sorted_keys[pos] == keys, FIRST_TOKEN + order[pos], OOV)
            else:
                local = np.full(len(keys), OOV)
        else:
            frame = pl.DataFrame({"token": column.cast(pl.String)})
            local = frame.join(self._lookup[index], on="token", how="left",
                               maintain_order="left")["local"].fill_null(OOV).to_numpy()
        return np.where(missing, MISSING, local).astype(np.int64)

    def encode(self, frame) -> np.ndarray:
        """Global ids int32 [rows, fields] of a polars DataFrame holding every field's raw
        column (by name)."""
        out = np.empty((len(self.fields), frame.height), np.int32)
        for i, f in enumerate(self.fields):
            out[i] = self.offsets[i] + self.encode_column(i, frame[f.name])
        return np.ascontiguousarray(out.T)

    # ------------------------------------------------------------------ files
    def to_json(self) -> str:
        data = {"format": "dcnmix-feature-map", "version": 1, "label": self.label,
                "min_count": self.min_count, "feat_dim": self.feat_dim,
                "given_feat_dim": self.given_feat_dim,
                "offsets": [int(x) for x in self.offsets],
                "fields": [{"name": f.name, "kind": f.kind, "cardinality": f.cardinality,
                            "buckets": f.buckets, "tokens": list(f.tokens),
                            "counts": [int(c) for c in f.counts]} for f in self.fields],
                **self.info}
        data["sha256"] = hashlib.sha256(json.dumps(data).encode()).hexdigest()
        return json.dumps(data) + "\n"   # no indent: the C encoder, for large vocabularies

    @classmethod
    def from_json(cls, text: str, path: str = "feature_map.json") -> "FeatureMap":
        try:
            data = json.loads(text)
            stored = data.pop("sha256", None)
            if stored != hashlib.sha256(json.dumps(data).encode()).hexdigest() or \
                    text != json.dumps({**data, "sha256": stored}) + "\n":
                raise ValueError("contents do not match their sha256 (corrupt file)")
            if data.get("format") != "dcnmix-feature-map":
                raise ValueError(f"format is {data.get('format')!r}, expected 'dcnmix-feature-map'")
            fields = tuple(Field(d["name"], d["kind"], tuple(d["tokens"]), tuple(d["counts"]),
                                 int(d.get("buckets", 0))) for d in data["fields"])
            bad = [f.kind for f in fields if f.kind not in KINDS]
            if bad:
                raise ValueError(f"unknown field kinds {bad}")
            known = {"format", "version", "label", "min_count", "feat_dim", "given_feat_dim",
                     "offsets", "fields", "sha256"}
            fmap = cls(fields, int(data["min_count"]), data.get("label", "label"),
                       data.get("given_feat_dim"), {k: v for k, v in data.items() if k not in known})
        except (ValueError, KeyError, TypeError) as exc:
            from .errors import DataError
            raise DataError(path, None, f"not a feature map ({type(exc).__name__}: {exc})") from None
        if fmap.feat_dim != data["feat_dim"]:
            from .errors import DataError
            raise DataError(path, None, f"feat_dim {data['feat_dim']} does not match its fields "
                                        f"({fmap.feat_dim})")
        return fmap

    def save(self, path) -> None:
        from ..weights import atomic_write_bytes
        atomic_write_bytes(path, self.to_json().encode())

    @classmethod
    def load(cls, path) -> "FeatureMap":
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except UnicodeDecodeError as exc:
            from .errors import DataError
            raise DataError(path, None, f"not valid UTF-8 ({exc.reason}): corrupt file") from None
        except OSError as exc:
            from .errors import DataError
            raise DataError(path, None, f"cannot read ({exc.strerror or exc})") from None
        return cls.from_json(text, path)


def build_fields(names: Sequence[str], kinds: Sequence[str], counts: Sequence[dict],
                 min_count: int) -> tuple[Field, ...]:
    """Fields from per-field {token: count} over the training rows (numeric: {key: count})."""
    out = []
    for name, kind, column in zip(names, kinds, counts):
        items = [(key_token(int(k)) if kind == "numeric" else k, int(c))
                 for k, c in column.items() if c >= min_count]
        items.sort(key=lambda tc: (-tc[1], tc[0]))
        out.append(Field(name, kind, tuple(t for t, _ in items), tuple(c for _, c in items)))
    return tuple(out)
