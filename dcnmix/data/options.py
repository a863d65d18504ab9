"""DataOptions: the one definition of how raw columns are read, typed, split and encoded.
`dcnmix prepare` (PrepareOptions = these + the source), `DataSpec` (these + a dataset spec),
`dcnmix train --dataset csv:/parquet:/criteo:` and `dcnmix.train(config, df, ...)` all read
it; the CLI builds its flags from these fields (help text and choices in their metadata).
"""
from __future__ import annotations

import dataclasses

from .fieldkinds import TRANSFORMS, parse_rule
from .tabular import CRITEO_CATEGORICAL, CRITEO_FIELDS, CRITEO_NUMERIC


def _opt(default, help: str, choices=None, flag_type=None):
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices,
                                                        "flag_type": flag_type})


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataOptions:
    """Columns and their types, the label, the split and the encoding options."""

    label: str = _opt("label", "the label column")
    positive: str | None = _opt(None, "the label value that is positive (every other value is "
                                      "negative); default: 0/1, -1/1, true/false, 0.0/1.0")
    categorical: tuple[str, ...] = _opt((), "categorical columns (comma-separated)")
    numeric: tuple[str, ...] = _opt((), "numeric columns, bucketed (--numeric-rule, --buckets)")
    dense: tuple[str, ...] = _opt((), "dense columns: the value itself, transformed "
                                      "(--dense-transform), into the model")
    multivalued: tuple[str, ...] = _opt((), "multi-valued columns: lists ('a|b|c', or Arrow/"
                                            "Parquet lists), pooled into one embedding")
    numeric_rule: str = _opt("log", "how numeric columns are bucketed: log (Criteo's rule), "
                                    "quantile:N (boundaries fitted on train) or a,b,c boundaries")
    buckets: tuple[tuple[str, str], ...] = _opt((), "per-column bucketing rules COL=RULE;COL=RULE "
                                                    "(RULE as --numeric-rule, e.g. "
                                                    "price=quantile:16;rate=0.01,0.05,0.1)",
                                                flag_type="rules")
    dense_transform: str = _opt("log1p", "dense columns: log1p (sign(v) log(1+|v|), the DCN-V2 "
                                         "paper's Criteo setup), standardize or none", TRANSFORMS)
    multivalued_sep: str = _opt("|", "the separator of a text list")
    max_len: int = _opt(0, "elements kept per multi-valued row (0: the longest training list)")
    truncate: bool = _opt(True, "cut lists longer than --max-len (off: refuse them)")
    hash_buckets: tuple[tuple[str, int], ...] = _opt((), "categorical columns too large to "
                                                         "enumerate: COL=N hashes into N ids",
                                                     flag_type="buckets")
    delimiter: str = _opt(",", "csv: the field delimiter, one character (escapes \\t, \\x1f "
                               "and the words tab, comma, semicolon, pipe, space accepted)")
    columns: tuple[str, ...] = _opt((), "csv: the names of a header-less file's columns")
    min_count: int = _opt(2, "tokens seen fewer times in the training rows share the "
                             "out-of-vocabulary id")
    split_column: str | None = _opt(None, "a column naming each row's split (train / valid / test)")
    order_by: str | None = _opt(None, "a numeric or time column: the earliest 80%% of rows train, "
                                      "the next 10%% validate")
    order_by_text: bool = _opt(False, "--order-by: sort the column as text (by default it must "
                                      "parse entirely as numbers or as dates and times)")
    split_seed: int = _opt(0, "the hashed split's seed (0 <= seed < 2^63)")
    fractions: tuple[float, float, float] = _opt((0.8, 0.1, 0.1), "train, valid, test shares")

    def __post_init__(self):
        for name in ("categorical", "numeric", "dense", "multivalued", "columns", "fractions"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "hash_buckets", tuple((str(f), int(n)) for f, n in
                                                       dict(self.hash_buckets).items()))
        object.__setattr__(self, "buckets", tuple((str(f), str(r)) for f, r in
                                                  dict(self.buckets).items()))
        if self.positive is not None:
            object.__setattr__(self, "positive", str(self.positive))
        object.__setattr__(self, "delimiter", one_char(self.delimiter, "--delimiter"))
        object.__setattr__(self, "multivalued_sep", one_char(self.multivalued_sep,
                                                             "--multivalued-sep", length=None))
        self._check()

    def _check(self) -> None:
        _integer("--min-count", self.min_count, 1, MAX_COUNT)
        _integer("--max-len", self.max_len, 0, MAX_LEN)
        _integer("--split-seed", self.split_seed, 0, 2 ** 63 - 1)
        if len(self.fractions) != 3 or any(not 0 <= f <= 1 for f in self.fractions) or \
                abs(sum(self.fractions) - 1) > 1e-9:
            raise ValueError(f"--fractions: three shares in [0, 1] summing to 1, got {self.fractions}")
        if self.delimiter == self.multivalued_sep and (self.multivalued or ()):
            raise ValueError(f"--multivalued-sep {self.multivalued_sep!r} is also the --delimiter")
        if self.split_column and self.order_by:
            raise ValueError("--split-column and --order-by are two different splits: give one")
        listed = [self.label, *self.categorical, *self.numeric, *self.dense, *self.multivalued]
        twice = sorted({c for c in listed if listed.count(c) > 1})
        if twice:
            raise ValueError(f"a column is listed twice (label {self.label!r}, categorical "
                             f"{self.categorical}, numeric {self.numeric}, dense {self.dense}, "
                             f"multivalued {self.multivalued}): {twice}")
        bad = [f for f, n in self.hash_buckets
               if f not in (*self.categorical, *CRITEO_CATEGORICAL) or not 1 <= n <= MAX_BUCKETS]
        if bad:
            raise ValueError(f"--hash-buckets {bad}: not categorical columns, or not between 1 "
                             f"and {MAX_BUCKETS:,} buckets")
        for column, rule in (("--numeric-rule", self.numeric_rule), *self.buckets):
            try:
                parse_rule(rule)
            except ValueError as exc:
                raise ValueError(f"--buckets {column}: {exc}" if column[0] != "-" else
                                 f"{column}: {exc}") from None
        not_numeric = [c for c, _ in self.buckets if c not in self.numeric and
                       c not in CRITEO_NUMERIC]
        if not_numeric:
            raise ValueError(f"--buckets {not_numeric}: not --numeric columns")
        if self.dense_transform not in TRANSFORMS:
            raise ValueError(f"--dense-transform {self.dense_transform!r}: expected one of {TRANSFORMS}")

    def rule_of(self, column: str) -> str:
        """The bucketing rule of a numeric column (--buckets, else --numeric-rule)."""
        return dict(self.buckets).get(column, self.numeric_rule)

    def fields_of(self, source: str) -> tuple[tuple[str, str], ...]:
        """(name, kind) per field, in id order, for a source kind; kinds are the names of
        dcnmix.data.fieldkinds.KINDS. Criteo: I1-I13 numeric (dense when listed in --dense,
        or all with --dense all), C1-C26 categorical."""
        hashed = dict(self.hash_buckets)
        cat = lambda n: "hashed" if n in hashed else "categorical"
        if source == "criteo":
            dense = set(CRITEO_NUMERIC) if self.dense == ("all",) else set(self.dense)
            return tuple((n, ("dense" if n in dense else "numeric") if n in CRITEO_NUMERIC
                          else cat(n)) for n in CRITEO_FIELDS)
        return tuple([(c, cat(c)) for c in self.categorical] + [(c, "numeric") for c in self.numeric]
                     + [(c, "dense") for c in self.dense]
                     + [(c, "multivalued") for c in self.multivalued])

    def changed(self) -> dict:
        """The options that differ from their defaults (what a record needs)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(DataOptions)
                if getattr(self, f.name) != f.default}


DATA_FIELDS = tuple(f.name for f in dataclasses.fields(DataOptions))

# the largest values the options take: ids are int32, so an embedding table of at most 2^31
# rows; a list longer than 2^16 elements per row would not fit a batch
MAX_BUCKETS = 2 ** 30
MAX_LEN = 2 ** 16
MAX_COUNT = 2 ** 62
ESCAPES = {"\\t": "\t", "tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}


def one_char(text: str, flag: str, length: int | None = 1) -> str:
    """A delimiter given as the character itself, an escape (\\t, \\x1f, \\u0001) or a word
    (tab, comma, semicolon, pipe, space); refused unless it is `length` characters (None:
    any non-empty text) and neither a line break nor a double quote."""
    value = ESCAPES.get(str(text).lower(), text)
    if value.startswith("\\") and len(value) > 1:
        try:
            value = value.encode("ascii").decode("unicode_escape")
        except (UnicodeError, ValueError):
            raise ValueError(f"{flag} {text!r}: not a valid escape") from None
    if (length is not None and len(value) != length) or not value:
        raise ValueError(f"{flag} {text!r}: expected one character (or \\t, tab, semicolon, "
                         "pipe, ...)")
    if any(c in value for c in "\r\n\""):
        raise ValueError(f"{flag} {text!r}: a line break or a double quote cannot separate fields")
    return value


def _integer(flag: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{flag} must be an integer in [{low}, {high:,}], got {value!r}")
