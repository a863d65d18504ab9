"""The field kinds: how one raw column becomes the model's input, one class per kind.

Each kind fits on the training rows (its `fitter`: what it accumulates, and the Field that
makes; or, for prepare's one parse, its `coder`: the values as codes, fitted after),
encodes a column and writes / reads its record in feature_map.json. `role` says what
the encoding is: 'ids' (local id 0 missing, 1 out of vocabulary, 2.. its tokens or buckets;
the vocabulary's rule, dcnmix.data.vocab), 'dense' (float values) or 'multi' (a list of local
ids, -1 padding). `KINDS` is the registry the feature map, the reader and the fitting
dispatch through: a new kind is one class here and one entry there.

    categorical  the kept tokens, most frequent first, ties by token
    numeric      buckets by a rule: 'log' (Criteo's: floor(ln(v)^2) for v > 2, else floor(v),
                 tokens 'L<n>' / 'V<n>'), 'quantile:N' (boundaries fitted on train) or
                 explicit boundaries; local id 2 + bucket
    hashed       no vocabulary: 2 + fnv1a64(token) % buckets
    dense        the value itself, transformed (log1p: sign(v) log(1 + |v|); standardize:
                 (v - mean) / std on train; none); missing -> the train mean, plus a 0/1
                 indicator column when train had missing values
    multivalued  a list ('a|b|c', or an Arrow list column): its elements' vocabulary, at most
                 max_len of them (truncated, or refused); pooled by the model
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
    rule: str = ""              # numeric: 'log' (or ''), 'quantile:N', 'bounds'
    boundaries: tuple = ()      # numeric (quantile, bounds): bucket b = #boundaries <= v
    transform: str = ""         # dense: log1p, standardize, none
    stats: tuple = ()           # dense: (mean, std) of the transformed training values
    indicator: bool = False     # dense: a 0/1 missing column follows the value
    sep: str = ""               # multivalued: the separator of a text list
    max_len: int = 0            # multivalued: elements kept per row
    truncate: bool = True       # multivalued: longer lists are cut (else refused)

    @property
    def cardinality(self) -> int:
        return KINDS[self.kind].cardinality(self)

    @property
    def role(self) -> str:
        return KINDS[self.kind].role

    @property
    def width(self) -> int:
        """dense: its columns (1, or 2 with the indicator); multivalued: max_len; ids: 1."""
        return KINDS[self.kind].width(self)


# the Field attributes a kind may add to its record (written only when not the default)
EXTRAS = ("rule", "boundaries", "transform", "stats", "indicator", "sep", "max_len", "truncate")


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
    """float64 keys of the log buckets of float values (NaN = missing -> any key; mask it):
    floor(v) for 'V<floor(v)>' (v <= 2), 3 + n for 'L<n>' (v > 2, n = floor(ln(v)^2)).
    Exact for every finite float64 (a floor is an integer the float holds exactly; no
    integer conversion wraps), and the two ranges never meet."""
    v = np.asarray(values, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        big = v > 2
        n = np.floor(np.log(np.where(big, v, 3.0)) ** 2)
        small = np.floor(np.where(big, 0.0, np.nan_to_num(v)))
    return np.where(big, 3.0 + n, small)


def key_token(key: float) -> str:
    """The vocabulary token of a numeric key ('L<n>' or 'V<n>', as vocab.bucketize)."""
    return f"L{int(key) - 3}" if key > 2 else f"V{int(key)}"


def token_key(token: str) -> float:
    n = int(token[1:])
    return 3.0 + n if token[0] == "L" else float(n)


def _ranked(name: str, kind: str, kept, **extra) -> Field:
    """A Field of a polars frame of kept (values, counts): most frequent first, ties by token."""
    kept = kept.sort(["counts", "values"], descending=[True, False])
    return Field(name, kind, tuple(kept["values"].to_list()), tuple(kept["counts"].to_list()),
                 **extra)


class ValueCounts:
    """Counts of each value over the training rows (polars group-bys, merged every few
    batches, so memory holds the distinct values, not the rows)."""

    MERGE_EVERY = 16

    def __init__(self):
        self.pending = []

    def add(self, values) -> None:
        import polars as pl
        counts = values.rename("values").value_counts(name="counts")
        self.pending.append(counts.with_columns(pl.col("counts").cast(pl.Int64)))
        if len(self.pending) >= self.MERGE_EVERY:
            self.pending = [self.merged()]

    def merged(self):
        """(values, counts) of everything added, or None."""
        import polars as pl
        if not self.pending:
            return None
        return pl.concat(self.pending).group_by("values").agg(pl.col("counts").sum())

    def kept(self, min_count: int):
        import polars as pl
        merged = self.merged()
        return None if merged is None else merged.filter(pl.col("counts") >= min_count)


class Fitter:
    """What a kind accumulates over the training rows of one field: `add(column)` per batch,
    then `field()`. By default its values are counted and those seen min_count times kept
    (the kind's `counted` and `fitted`)."""

    def __init__(self, kind: "Kind", name: str, opt):
        self.kind, self.name, self.opt, self.counts = kind, name, opt, ValueCounts()

    def add(self, column) -> None:
        values = self.kind.counted(column)
        if values is not None:
            self.counts.add(values)

    def field(self) -> Field:
        return self.kind.fitted(self.name, self.counts.kept(self.opt.min_count), self.opt)

    # an engine that fits in parts (dcnmix.data.prepare.spark: one fitter per partition)
    # merges the parts' counts itself (a group-by) and their scalars here
    keeps_min_count = True      # field() reads only the values counted min_count times

    def partial(self) -> tuple:
        """(the (values, counts) counted, or None; the scalars) of this part."""
        return self.counts.merged(), {}

    def absorb(self, counts, scalars: list) -> None:
        """Become the fitter of every part: `counts` their (values, counts) summed (or
        None), `scalars` each part's, in row order."""
        self.counts.pending = [] if counts is None else [counts]


class Kind:
    """What every kind shares: the feature_map.json record, and the defaults (single ids, no
    vocabulary to count, every value accepted)."""

    name = ""
    role = "ids"
    reads_numbers = False      # the raw column holds numbers (text is parsed, and refused)

    def cardinality(self, field: Field) -> int:
        return FIRST_TOKEN + len(field.tokens)

    def width(self, field: Field) -> int:
        return 1

    # ------------------------------------------------------------------ fitting
    def invalid(self, batch, name: str) -> tuple[int, str] | None:
        """(row, reason) of the first value of column `name` of a polars DataFrame that this
        kind refuses; None when all are fine (by default, without reading the column)."""
        return None

    def fitter(self, name: str, opt) -> Fitter:
        return Fitter(self, name, opt)

    def counted(self, column):
        """The values to count of one batch's training rows (a polars Series), or None when
        the kind keeps no vocabulary."""
        return None

    def fitted(self, name: str, kept, opt) -> Field:
        """The Field of the merged (values, counts) that reached min_count (None: nothing
        counted)."""
        return Field(name, self.name) if kept is None else _ranked(name, self.name, kept)

    def coder(self, name: str, opt) -> str | None:
        """The name of the field's one-parse coder (dcnmix.data.prepare.codes.CODERS: each
        value -> a code while parsing, the vocabulary fitted after), or None: prepare takes
        its two passes."""
        return None

    # ------------------------------------------------------------------ encoding
    def encoder(self, field: Field):
        """A function: raw polars Series (null = missing) -> local ids int64 [n] (role 'ids'),
        values float32 [n, width] ('dense') or local ids int64 [n, max_len], -1 padding
        ('multi')."""
        def encode(column) -> np.ndarray:
            raise ValueError(f"field {field.name!r} is of kind {self.name!r}: its ids come "
                             "with the data, there are no raw values to encode")
        return encode

    # ------------------------------------------------------------------ feature_map.json
    def record(self, field: Field) -> dict:
        out = {"name": field.name, "kind": field.kind, "cardinality": field.cardinality,
               "buckets": field.buckets, "tokens": list(field.tokens),
               "counts": [int(c) for c in field.counts]}
        for name in EXTRAS:
            value = getattr(field, name)
            if value != Field.__dataclass_fields__[name].default:
                out[name] = list(value) if isinstance(value, tuple) else value
        return out

    def field(self, record: dict) -> Field:
        extra = {k: (tuple(record[k]) if isinstance(record[k], list) else record[k])
                 for k in EXTRAS if k in record}
        return Field(record["name"], record["kind"], tuple(record["tokens"]),
                     tuple(record["counts"]), int(record.get("buckets", 0)), **extra)


class Categorical(Kind):
    """Tokens as they are: the kept ones (min_count times in training) get ids."""

    name = "categorical"

    def counted(self, column):
        return column.drop_nulls()

    def coder(self, name: str, opt) -> str | None:
        return "tokens"

    def encoder(self, field: Field):
        lookup = token_lookup(field.tokens)

        def encode(column) -> np.ndarray:
            return _with_missing(column.is_null().to_numpy(), lookup(column))
        return encode


def token_lookup(tokens):
    """A function: polars Series -> local ids int64 (2 + position in `tokens`, else OOV)."""
    import polars as pl
    table = pl.DataFrame({"token": pl.Series(tokens, dtype=pl.String),
                          "local": np.arange(FIRST_TOKEN, FIRST_TOKEN + len(tokens), dtype=np.int64)})

    def lookup(column) -> np.ndarray:
        frame = pl.DataFrame({"token": column.cast(pl.String)})
        return frame.join(table, on="token", how="left",
                          maintain_order="left")["local"].fill_null(OOV).to_numpy()
    return lookup


def parse_rule(text: str) -> tuple[str, tuple]:
    """A bucketing rule: 'log', 'quantile:N' or boundaries 'a,b,c' (increasing) -> (rule,
    boundaries or (N,)); a ValueError says what is wrong."""
    text = str(text).strip()
    if text == "log":
        return "log", ()
    if text.startswith("quantile:"):
        n = text.partition(":")[2]
        if not n.isdigit() or int(n) < 2:
            raise ValueError(f"rule {text!r}: quantile:N needs N >= 2")
        return "quantile", (int(n),)
    try:
        bounds = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"rule {text!r} is not log, quantile:N or increasing numbers a,b,c") from None
    if not bounds or any(b >= c for b, c in zip(bounds, bounds[1:])) or \
            not all(np.isfinite(bounds)):
        raise ValueError(f"boundaries {text!r} must be finite and increasing")
    return "bounds", bounds


def _finite_numbers(batch, name: str) -> tuple[int, str] | None:
    """(row, reason) of the first value of a numeric column that is text or infinite (NaN
    is missing, as pandas writes it)."""
    import polars as pl
    column = batch[name]
    if column.dtype == pl.String:
        parsed = column.str.strip_chars().cast(pl.Float64, strict=False)
        bad = (parsed.is_null() & column.is_not_null()).to_numpy()
        if bad.any():
            row = int(np.argmax(bad))
            return row, f"{column[row]!r} is not a number"
        bad = parsed.is_nan().fill_null(False).to_numpy()     # text 'nan': refused, as 'inf'
        if bad.any():
            row = int(np.argmax(bad))
            return row, f"{column[row]!r} is not a finite number"
        column = parsed
    if not column.dtype.is_numeric():
        return 0, f"a column of {column.dtype} holds no numbers"
    v = column.cast(pl.Float64).fill_null(0).fill_nan(0).to_numpy()
    bad = ~np.isfinite(v)
    if not bad.any():
        return None
    row = int(np.argmax(bad))
    return row, f"{float(v[row]):g} is not a finite number"


def as_numbers(column):
    """A numeric or text polars Series as Float64 (NaN -> null)."""
    import polars as pl
    if column.dtype == pl.String:
        column = column.str.strip_chars().cast(pl.Float64, strict=False)
    column = column.cast(pl.Float64)
    return column.fill_nan(None)


class Numeric(Kind):
    """Finite numbers, bucketed by the field's rule: 'log' keeps the buckets seen min_count
    times (tokens 'L<n>' / 'V<n>'); 'quantile:N' and explicit boundaries give every bucket an
    id, 2 + the number of boundaries <= v."""

    name = "numeric"
    reads_numbers = True

    def cardinality(self, field: Field) -> int:
        if field.rule in ("quantile", "bounds"):
            return FIRST_TOKEN + len(field.boundaries) + 1
        return super().cardinality(field)

    def invalid(self, batch, name: str) -> tuple[int, str] | None:
        return _finite_numbers(batch, name)

    def fitter(self, name: str, opt) -> Fitter:
        return Buckets(self, name, opt)

    def coder(self, name: str, opt) -> str | None:
        """The 'log' rule's bucket keys (quantiles and boundaries: the two passes)."""
        return "keys" if parse_rule(opt.rule_of(name))[0] == "log" else None

    def encoder(self, field: Field):
        if field.rule in ("quantile", "bounds"):
            bounds = np.asarray(field.boundaries, np.float64)

            def encode(column) -> np.ndarray:
                v = as_numbers(column)
                local = FIRST_TOKEN + np.searchsorted(bounds, v.fill_null(0).to_numpy(), side="right")
                return _with_missing(v.is_null().to_numpy(), local)
            return encode
        keys = np.array([token_key(t) for t in field.tokens], np.float64)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]

        def encode(column) -> np.ndarray:
            column = as_numbers(column)
            missing = column.is_null().to_numpy()                       # NaN scores as missing
            keys = numeric_keys(column.fill_null(0).to_numpy())
            if not len(sorted_keys):
                return _with_missing(missing, np.full(len(keys), OOV))
            pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
            local = np.where(sorted_keys[pos] == keys, FIRST_TOKEN + order[pos], OOV)
            return _with_missing(missing, local)
        return encode


class Buckets(Fitter):
    """A numeric field by its rule: 'log' counts the buckets' keys (kept min_count times),
    'quantile:N' counts the values (every one: the boundaries are exact quantiles), explicit
    boundaries count nothing."""

    def __init__(self, kind, name, opt):
        super().__init__(kind, name, opt)
        self.rule, self.arg = parse_rule(opt.rule_of(name))

    def add(self, column) -> None:
        import polars as pl
        values = as_numbers(column).drop_nulls()
        if self.rule == "log":
            self.counts.add(pl.Series("values", numeric_keys(values.to_numpy())))
        elif self.rule == "quantile":
            self.counts.add(values)

    @property
    def keeps_min_count(self) -> bool:
        return self.rule == "log"          # quantiles need every value's count

    def field(self) -> Field:
        import polars as pl
        if self.rule == "bounds":
            return Field(self.name, "numeric", rule="bounds", boundaries=self.arg)
        if self.rule == "quantile":
            return Field(self.name, "numeric", rule="quantile",
                         boundaries=_quantiles(self.counts.merged(), self.arg[0]))
        kept = self.counts.kept(self.opt.min_count)
        if kept is None:
            return Field(self.name, "numeric")
        kept = kept.with_columns(pl.col("values").map_elements(lambda k: key_token(float(k)),
                                                                return_dtype=pl.String))
        return _ranked(self.name, "numeric", kept)


def _quantiles(kept, n: int) -> tuple:
    """The distinct inner boundaries of n equal-count buckets of counted (values, counts)."""
    if kept is None:
        return ()
    kept = kept.sort("values")
    values, cum = kept["values"].to_numpy(), np.cumsum(kept["counts"].to_numpy())
    at = np.searchsorted(cum, cum[-1] * np.arange(1, n) / n, side="left")
    return tuple(float(b) for b in np.unique(values[np.minimum(at + 1, len(values) - 1)])
                 if b > values[0])


class Hashed(Kind):
    """No vocabulary: id 2 + FNV-1a-64(token) mod buckets; colliding tokens share an id."""

    name = "hashed"

    def cardinality(self, field: Field) -> int:
        return FIRST_TOKEN + field.buckets

    def fitted(self, name: str, kept, opt) -> Field:
        return Field(name, self.name, buckets=dict(opt.hash_buckets)[name])

    def encoder(self, field: Field):
        import polars as pl

        def encode(column) -> np.ndarray:
            local = FIRST_TOKEN + (fnv1a64(column.cast(pl.String)) % np.uint64(field.buckets)
                                   ).astype(np.int64)
            return _with_missing(column.is_null().to_numpy(), local)
        return encode


TRANSFORMS = ("log1p", "standardize", "none")


def transformed(values: np.ndarray, transform: str) -> np.ndarray:
    """log1p: sign(v) log(1 + |v|) (the DCN-V2 paper's Criteo counts; negatives kept
    symmetric); standardize and none: v (standardize then subtracts the mean, divides by std)."""
    if transform == "log1p":
        return np.sign(values) * np.log1p(np.abs(values))
    return values


class Moments(Fitter):
    """Count, sum and sum of squares of the transformed non-missing training values, and the
    missing count: the mean and std a dense field needs, in constant memory."""

    def __init__(self, kind, name, opt):
        super().__init__(kind, name, opt)
        self.n = self.missing = 0
        self.total = self.squares = 0.0

    def add(self, column) -> None:
        column = as_numbers(column)
        self.missing += column.null_count()
        v = transformed(column.drop_nulls().to_numpy(), self.opt.dense_transform)
        self.n += len(v)
        self.total += float(v.sum())
        self.squares += float(np.square(v).sum())

    def partial(self) -> tuple:
        return None, {"n": self.n, "missing": self.missing, "total": self.total,
                      "squares": self.squares}

    def absorb(self, counts, scalars: list) -> None:
        """Sums of the parts' (in row order: the float sums differ from one pass's only by
        rounding, about 1e-16 relative)."""
        for name in ("n", "missing", "total", "squares"):
            setattr(self, name, sum(part[name] for part in scalars))

    def field(self) -> Field:
        mean = self.total / max(self.n, 1)
        std = float(np.sqrt(max(self.squares / max(self.n, 1) - mean * mean, 0.0)))
        return Field(self.name, "dense", counts=(self.n, self.missing),
                     transform=self.opt.dense_transform, stats=(mean, std if std > 0 else 1.0),
                     indicator=self.missing > 0)


class Dense(Kind):
    """The value itself, transformed as fitted on train (see `transformed`); missing values
    take the train mean, and a 0/1 indicator column follows when train had any missing."""

    name = "dense"
    role = "dense"
    reads_numbers = True

    def cardinality(self, field: Field) -> int:
        return 0

    def width(self, field: Field) -> int:
        return 2 if field.indicator else 1

    def invalid(self, batch, name: str) -> tuple[int, str] | None:
        return _finite_numbers(batch, name)

    def fitter(self, name: str, opt) -> Fitter:
        return Moments(self, name, opt)

    def encoder(self, field: Field):
        mean, std = field.stats

        def encode(column) -> np.ndarray:
            column = as_numbers(column)
            missing = column.is_null().to_numpy()
            v = np.where(missing, mean, transformed(column.fill_null(0).to_numpy(), field.transform))
            if field.transform == "standardize":
                v = (v - mean) / std
            out = [v] + ([missing] if field.indicator else [])
            return np.stack(out, axis=1).astype(np.float32)
        return encode


class Elements(Fitter):
    """A multi-valued field's element counts, and its longest list in the training rows."""

    def __init__(self, kind, name, opt):
        super().__init__(kind, name, opt)
        self.longest = 0

    def add(self, column) -> None:
        lists = self.kind.lists(column, self.opt.multivalued_sep)
        self.longest = max(self.longest, int(lists.list.len().max() or 0))
        self.counts.add(lists.explode().drop_nulls())

    def partial(self) -> tuple:
        return self.counts.merged(), {"longest": self.longest}

    def absorb(self, counts, scalars: list) -> None:
        super().absorb(counts, scalars)
        self.longest = max((part["longest"] for part in scalars), default=0)

    def field(self) -> Field:
        kept = self.counts.kept(self.opt.min_count)
        base = Field(self.name, "multivalued") if kept is None else _ranked(self.name, "multivalued", kept)
        return dataclasses.replace(base, sep=self.opt.multivalued_sep,
                                   max_len=self.opt.max_len or max(self.longest, 1),
                                   truncate=self.opt.truncate)


class Multivalued(Kind):
    """A list of tokens per row: text split at `sep`, or an Arrow list of strings or integers.
    Its elements get a vocabulary (min_count, OOV); a row keeps at most max_len of them (the
    first ones; longer lists are cut, or refused with truncate off); a missing or empty list
    is the field's missing id."""

    name = "multivalued"
    role = "multi"

    def width(self, field: Field) -> int:
        return field.max_len

    @staticmethod
    def lists(column, sep: str):
        """A polars List(String) Series of the column; empty elements dropped."""
        import polars as pl
        if column.dtype == pl.String:
            column = column.str.split(sep)
        elif isinstance(column.dtype, pl.List):
            inner = column.dtype.inner
            if not (inner == pl.String or inner.is_integer()):
                raise TypeError(f"a list column of {inner} elements (multi-valued fields take "
                                "lists of strings or integers)")
            column = column.cast(pl.List(pl.String))
        elif column.dtype != pl.Null:
            raise TypeError(f"a column of {column.dtype} (multi-valued fields take text lists "
                            "or lists of strings or integers)")
        else:
            column = column.cast(pl.List(pl.String))
        return column.list.eval(pl.element().str.strip_chars()).list.eval(
            pl.element().filter(pl.element() != ""))

    def invalid(self, batch, name: str) -> tuple[int, str] | None:
        try:
            self.lists(batch[name], "|")
        except TypeError as exc:
            return 0, str(exc)
        return None

    def fitter(self, name: str, opt) -> Fitter:
        return Elements(self, name, opt)

    def encoder(self, field: Field):
        lookup = token_lookup(field.tokens)

        def encode(column) -> np.ndarray:
            lists = self.lists(column, field.sep)
            lengths = lists.list.len().fill_null(0).to_numpy().astype(np.int64)
            if not field.truncate and (lengths > field.max_len).any():
                row = int(np.argmax(lengths > field.max_len))
                raise OverLength(field.name, row, int(lengths[row]), field.max_len)
            kept = lists.list.head(field.max_len)
            n, k = len(kept), np.minimum(lengths, field.max_len)
            out = np.full((n, field.max_len), -1, np.int64)
            flat = kept.explode().drop_nulls()
            if len(flat):
                rows = np.repeat(np.arange(n), k)
                cols = np.arange(len(rows)) - np.repeat(np.cumsum(k) - k, k)
                out[rows, cols] = lookup(flat)
            out[k == 0, 0] = MISSING
            return out
        return encode


class OverLength(ValueError):
    """A multi-valued row longer than max_len with truncation off (row within the batch)."""

    def __init__(self, name: str, row: int, length: int, max_len: int):
        self.row = row
        super().__init__(f"field {name}: {length} elements, over --max-len {max_len} "
                         "(--truncate is off)")


class Given(Kind):
    """libfm / Frappe: the file holds the ids; the field records only its name."""

    name = "given"


def _with_missing(missing: np.ndarray, local: np.ndarray) -> np.ndarray:
    return np.where(missing, MISSING, local).astype(np.int64)


KINDS = {kind.name: kind for kind in (Categorical(), Numeric(), Hashed(), Dense(), Multivalued(),
                                      Given())}
