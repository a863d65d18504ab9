"""The field kinds: how one raw column becomes local ids, one class per kind.

Each kind fits on the training rows (what to count, and the Field the counts make), encodes a
column (local id 0 missing, 1 out of vocabulary, 2.. its tokens or buckets; the vocabulary's
rule, dcnmix.data.vocab) and writes / reads its record in feature_map.json. `KINDS` is the
registry the feature map, the reader and the counting dispatch through: a new kind is one
class here and one entry there.

    categorical  the kept tokens, most frequent first, ties by token
    numeric      log buckets first: floor(ln(v)^2) for v > 2, else floor(v) ('L<n>' / 'V<n>')
    hashed       no vocabulary: 2 + fnv1a64(token) % buckets
    given        libfm: the ids are in the file already (nothing to fit or encode)
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .vocab import FIRST_TOKEN, MISSING, OOV

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
        return KINDS[self.kind].cardinality(self)


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


def _ranked(name: str, kind: str, kept) -> Field:
    """A Field of a polars frame of kept (values, counts): most frequent first, ties by token."""
    kept = kept.sort(["counts", "values"], descending=[True, False])
    return Field(name, kind, tuple(kept["values"].to_list()), tuple(kept["counts"].to_list()))


class Kind:
    """What every kind shares: the feature_map.json record, and the defaults (no vocabulary
    to count, every value accepted)."""

    name = ""
    reads_numbers = False      # the raw column is read as float64 (else as text)

    def cardinality(self, field: Field) -> int:
        return FIRST_TOKEN + len(field.tokens)

    # ------------------------------------------------------------------ fitting
    def invalid(self, batch, name: str) -> tuple[int, str] | None:
        """(row, reason) of the first value of column `name` of a polars DataFrame that this
        kind refuses; None when all are fine (by default, without reading the column)."""
        return None

    def counted(self, column):
        """The values to count of one batch's training rows (a polars Series), or None when
        the kind keeps no vocabulary."""
        return None

    def fitted(self, name: str, kept, buckets: int = 0) -> Field:
        """The Field of the merged (values, counts) that reached min_count (None: nothing
        counted)."""
        return Field(name, self.name) if kept is None else _ranked(name, self.name, kept)

    # ------------------------------------------------------------------ encoding
    def encoder(self, field: Field):
        """A function: raw polars Series (null = missing) -> local ids int64."""
        def encode(column) -> np.ndarray:
            raise ValueError(f"field {field.name!r} is of kind {self.name!r}: its ids come "
                             "with the data, there are no raw values to encode")
        return encode

    # ------------------------------------------------------------------ feature_map.json
    def record(self, field: Field) -> dict:
        return {"name": field.name, "kind": field.kind, "cardinality": field.cardinality,
                "buckets": field.buckets, "tokens": list(field.tokens),
                "counts": [int(c) for c in field.counts]}

    def field(self, record: dict) -> Field:
        return Field(record["name"], record["kind"], tuple(record["tokens"]),
                     tuple(record["counts"]), int(record.get("buckets", 0)))


class Categorical(Kind):
    """Tokens as they are: the kept ones (min_count times in training) get ids."""

    name = "categorical"

    def counted(self, column):
        return column.drop_nulls()

    def encoder(self, field: Field):
        import polars as pl
        lookup = pl.DataFrame({"token": pl.Series(field.tokens, dtype=pl.String),
                               "local": np.arange(FIRST_TOKEN, field.cardinality, dtype=np.int64)})

        def encode(column) -> np.ndarray:
            frame = pl.DataFrame({"token": column.cast(pl.String)})
            local = frame.join(lookup, on="token", how="left",
                               maintain_order="left")["local"].fill_null(OOV).to_numpy()
            return _with_missing(column.is_null().to_numpy(), local)
        return encode


class Numeric(Kind):
    """Finite numbers, log-bucketed; the kept buckets get ids (tokens 'L<n>' / 'V<n>')."""

    name = "numeric"
    reads_numbers = True

    def invalid(self, batch, name: str) -> tuple[int, str] | None:
        v = batch[name].fill_null(0).to_numpy()
        bad = ~np.isfinite(v)
        if not bad.any():
            return None
        row = int(np.argmax(bad))
        return row, f"{float(v[row]):g} is not a finite number"

    def counted(self, column):
        import polars as pl
        return pl.Series("values", numeric_keys(column.drop_nulls().to_numpy()))

    def fitted(self, name: str, kept, buckets: int = 0) -> Field:
        import polars as pl
        if kept is not None:
            kept = kept.with_columns(pl.col("values").map_elements(lambda k: key_token(int(k)),
                                                                    return_dtype=pl.String))
        return super().fitted(name, kept)

    def encoder(self, field: Field):
        import polars as pl
        keys = np.array([token_key(t) for t in field.tokens], np.int64)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]

        def encode(column) -> np.ndarray:
            missing = column.is_null().to_numpy()
            column = column.cast(pl.Float64)
            missing |= column.is_nan().fill_null(False).to_numpy()      # NaN scores as missing
            keys = numeric_keys(column.fill_null(0).to_numpy())
            if not len(sorted_keys):
                return _with_missing(missing, np.full(len(keys), OOV))
            pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
            local = np.where(sorted_keys[pos] == keys, FIRST_TOKEN + order[pos], OOV)
            return _with_missing(missing, local)
        return encode


class Hashed(Kind):
    """No vocabulary: id 2 + FNV-1a-64(token) mod buckets; colliding tokens share an id."""

    name = "hashed"

    def cardinality(self, field: Field) -> int:
        return FIRST_TOKEN + field.buckets

    def fitted(self, name: str, kept, buckets: int = 0) -> Field:
        return Field(name, self.name, buckets=buckets)

    def encoder(self, field: Field):
        import polars as pl

        def encode(column) -> np.ndarray:
            local = FIRST_TOKEN + (fnv1a64(column.cast(pl.String)) % np.uint64(field.buckets)
                                   ).astype(np.int64)
            return _with_missing(column.is_null().to_numpy(), local)
        return encode


class Given(Kind):
    """libfm / Frappe: the file holds the ids; the field records only its name."""

    name = "given"


def _with_missing(missing: np.ndarray, local: np.ndarray) -> np.ndarray:
    return np.where(missing, MISSING, local).astype(np.int64)


KINDS = {kind.name: kind for kind in (Categorical(), Numeric(), Hashed(), Given())}
