"""Global codes of one field's raw values, for the one-parse path (onepass): each batch's
column becomes int32 codes, 0 for a missing value and 1.. for the values in the order first
seen, the same code for the same value in every batch. After the parse, `fit` turns the
training rows' count per code into the field's vocabulary exactly as its kind's Fitter does
(kept min_count times, most frequent first, ties by token) and a lookup code -> local id.

    TokenCoder  categorical: a per-field table token -> code, grown by a join of each
                batch's distinct tokens only
    KeyCoder    numeric, rule 'log': the bucket's key (fieldkinds.numeric_keys) -> code, by
                a table indexed by the key (a binary search for keys off the table)
"""
from __future__ import annotations

import numpy as np

from ..fieldkinds import Field, as_numbers, key_token, numeric_keys
from ..vocab import FIRST_TOKEN, MISSING, OOV


class Coder:
    """What both coders share: the code count (`size`, with 0 = missing) and the fit."""

    def __init__(self, name: str, kind: str, min_count: int):
        self.name, self.kind, self.min_count = name, kind, min_count
        self.size = 1

    def values(self):
        """The token of each code 1..size-1, in code order (a polars String Series)."""
        raise NotImplementedError

    def fit(self, counts: np.ndarray) -> tuple[Field, np.ndarray]:
        """The Field of the training rows' `counts` per code (int64 [size]) and the lookup
        code -> local id (int32 [size]: MISSING, a kept token's 2.., else OOV)."""
        import polars as pl
        frame = pl.DataFrame({"values": self.values(),
                              "counts": pl.Series(counts[1:self.size], dtype=pl.Int64),
                              "code": pl.int_range(1, self.size, dtype=pl.Int64, eager=True)})
        kept = frame.filter(pl.col("counts") >= max(self.min_count, 1)).sort(
            ["counts", "values"], descending=[True, False])
        field = Field(self.name, self.kind, tuple(kept["values"].to_list()),
                      tuple(kept["counts"].to_list()))
        lookup = np.full(self.size, OOV, np.int32)
        lookup[0] = MISSING
        lookup[kept["code"].to_numpy()] = np.arange(FIRST_TOKEN, FIRST_TOKEN + kept.height,
                                                    dtype=np.int32)
        return field, lookup


class TokenCoder(Coder):
    """Tokens as they are (a text column): the table of every token seen, with its code and
    its 64-bit polars hash. Per batch only its distinct tokens meet the table (an inner join
    on the hash, kept where the tokens are equal: exact, collisions included), new ones are
    appended with the next codes, and the rows take their token's code by a join on the hash
    against the batch's distinct tokens (on the token itself if two of them share a hash)."""

    SEED = 0x9E3779B9

    def __init__(self, name: str, kind: str, min_count: int):
        import polars as pl
        super().__init__(name, kind, min_count)
        self.table = pl.DataFrame({"token": pl.Series([], dtype=pl.String),
                                   "hash": pl.Series([], dtype=pl.UInt64),
                                   "code": pl.Series([], dtype=pl.Int32)})

    def codes(self, column) -> np.ndarray:
        import polars as pl
        column = column.cast(pl.String)
        known = self._known(column.unique().drop_nulls())
        coded = self._join(pl.DataFrame({"hash": self.hash(column)}), known, "hash")
        if coded.height != len(column):      # two tokens of the batch share a hash: row repeated
            coded = self._join(pl.DataFrame({"token": column}), known, "token")
        codes = coded["code"].fill_null(0).to_numpy()
        if column.null_count():                          # a null's hash may be a token's
            codes = np.where(column.is_null().to_numpy(), np.int32(0), codes)
        return codes

    @staticmethod
    def _join(rows, known, key: str):
        return rows.join(known.select(key, "code"), on=key, how="left", maintain_order="left")

    def hash(self, tokens):
        """UInt64 hashes of a String Series (polars', fixed within a process)."""
        return tokens.hash(self.SEED)

    def _known(self, tokens):
        """(token, hash, code) of these distinct tokens, the new ones added to the table."""
        import polars as pl
        seen = pl.DataFrame({"token": tokens, "hash": self.hash(tokens)})
        known = seen.join(self.table, on="hash", how="inner", suffix="_table").filter(
            pl.col("token") == pl.col("token_table")).select("token", "hash", "code")
        if known.height < seen.height:
            new = seen.join(known, on="token", how="anti").with_columns(
                pl.int_range(self.size, self.size + seen.height - known.height,
                             dtype=pl.Int32).alias("code"))
            self.size += new.height
            self.table = pl.concat([self.table, new], rechunk=False)
            known = pl.concat([known, new])
        return known

    def values(self):
        return self.table["token"]


class KeyCoder(Coder):
    """A numeric field's log buckets: the float64 key of each code 1... Keys are integers;
    those in [LOW, LOW + SPAN) (every value from -1024 to about e^256) find their code in
    a table indexed by the key, the others by a binary search over the keys seen."""

    LOW, SPAN = -1024, 1 << 16

    def __init__(self, name: str, kind: str, min_count: int):
        super().__init__(name, kind, min_count)
        self.keys = np.zeros(0, np.float64)                   # code - 1 -> key
        self.near = np.zeros(self.SPAN, np.int32)             # key - LOW -> code (0: unseen)
        self.sorted, self.order = np.zeros(0, np.float64), np.zeros(1, np.int32)

    def codes(self, column) -> np.ndarray:
        column = as_numbers(column)
        missing = column.is_null().to_numpy()
        keys = numeric_keys(column.fill_null(0).to_numpy())
        slot = keys - self.LOW
        if not ((slot >= 0) & (slot < self.SPAN)).all():
            return self._searched(keys, missing)
        slot = slot.astype(np.intp)
        codes = self.near[slot]
        new = (codes == 0) & ~missing
        if new.any():
            self._add(np.unique(keys[new]))
            codes = self.near[slot]
        codes[missing] = 0
        return codes

    def _searched(self, keys: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """Codes by a binary search over the sorted keys (a batch with a key off the table)."""
        pos, found = self._search(keys)
        new = ~found & ~missing
        if new.any():
            self._add(np.unique(keys[new]))
            pos, _ = self._search(keys)
        codes = self.order[pos]
        codes[missing] = 0
        return codes

    def _search(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each key's position in the sorted keys (clipped) and whether it is there."""
        if not len(self.sorted):
            return np.zeros(len(keys), np.intp), np.zeros(len(keys), bool)
        pos = np.minimum(np.searchsorted(self.sorted, keys), len(self.sorted) - 1)
        return pos, self.sorted[pos] == keys

    def _add(self, keys: np.ndarray) -> None:
        codes = np.arange(len(self.keys) + 1, len(self.keys) + 1 + len(keys), dtype=np.int32)
        slot = keys - self.LOW
        near = (slot >= 0) & (slot < self.SPAN)
        self.near[slot[near].astype(np.intp)] = codes[near]
        self.keys = np.concatenate([self.keys, keys])
        order = np.argsort(self.keys, kind="stable")
        self.sorted, self.order = self.keys[order], (order + 1).astype(np.int32)
        self.size = 1 + len(self.keys)

    def values(self):
        import polars as pl
        return pl.Series([key_token(float(k)) for k in self.keys], dtype=pl.String)


CODERS = {"tokens": TokenCoder, "keys": KeyCoder}   # what a Kind's coder() names
