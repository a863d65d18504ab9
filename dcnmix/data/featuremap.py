"""The feature map: how raw columns become the model's ids, saved beside prepared data and
in every run folder (feature_map.json), so new raw rows can be encoded the same way.

Per field (the vocabulary's rule, dcnmix.data.vocab): local id 0 is *missing* (empty),
1 is *out of vocabulary* (seen fewer than min_count times in the training rows, or never),
2.. the kept tokens, most frequent first, ties by token. Numeric fields are log-bucketed
first (floor(ln(v)^2) for v > 2, else floor(v); tokens 'L<n>' / 'V<n>'). Fields are stacked:
global id = offset + local id. libfm data has its ids already (kind 'given'). What a kind
does (fit, encode, its record) is its class in dcnmix.data.fieldkinds, found through KINDS.

Encoding works on polars Series, vectorised (no Python loop over rows).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os

import numpy as np

from .errors import DataError
from .fieldkinds import KINDS, Field, fnv1a64

__all__ = ["FeatureMap", "Field", "KINDS", "fnv1a64"]


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
        """Every field's name, in the feature map's order (all roles)."""
        return tuple(f.name for f in self.fields)

    def of_role(self, role: str) -> tuple[int, ...]:
        """Indices of the fields whose kind has `role` ('ids', 'dense', 'multi')."""
        return tuple(i for i, f in enumerate(self.fields) if f.role == role)

    @property
    def id_names(self) -> tuple[str, ...]:
        """The single-id fields: the columns of ids."""
        return tuple(self.fields[i].name for i in self.of_role("ids"))

    @property
    def dense_names(self) -> tuple[str, ...]:
        """The columns of dense: each dense field, then '<name>#missing' after one with an
        indicator."""
        out = []
        for i in self.of_role("dense"):
            f = self.fields[i]
            out += [f.name] + ([f"{f.name}#missing"] if f.indicator else [])
        return tuple(out)

    @property
    def multi_names(self) -> tuple[str, ...]:
        return tuple(self.fields[i].name for i in self.of_role("multi"))

    @property
    def max_len(self) -> int:
        """L, the multi-valued fields' common length (the longest max_len)."""
        return max((self.fields[i].max_len for i in self.of_role("multi")), default=0)

    def inputs(self) -> dict:
        """The typed inputs a model of this data takes (dcnmix.config.Inputs' fields)."""
        return {"dense_num": len(self.dense_names), "multi_num": len(self.multi_names)}

    @property
    def cardinalities(self) -> tuple[int, ...]:
        """Ids per single-id field."""
        if self.given_feat_dim is not None:
            return tuple(int(c) for c in self.info.get("cardinalities", [0] * len(self.fields)))
        return tuple(self.fields[i].cardinality for i in self.of_role("ids"))

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
    def _encoders(self) -> list:
        """Per field, its kind's encoder (lookups built once)."""
        return [KINDS[f.kind].encoder(f) for f in self.fields]

    def encode_column(self, index: int, column) -> np.ndarray:
        """Local ids (int64) of one raw polars Series (strings; floats for numeric fields;
        null = missing)."""
        return self._encoders[index](column)

    def encode(self, frame) -> np.ndarray:
        """Global ids int32 [rows, single-id fields] of a polars DataFrame holding every
        field's raw column (by name)."""
        index = self.of_role("ids")
        out = np.empty((len(index), frame.height), np.int32)
        for row, i in enumerate(index):
            out[row] = self.offsets[i] + self.encode_column(i, frame[self.fields[i].name])
        return np.ascontiguousarray(out.T)

    def encode_typed(self, frame) -> dict:
        """{'dense': float32 [rows, D], 'multi': int32 [rows, Fm, L] (global ids, -1 padding)}
        of the typed fields present (an empty dict without)."""
        out = {}
        dense = self.of_role("dense")
        if dense:
            out["dense"] = np.concatenate([self.encode_column(i, frame[self.fields[i].name])
                                           for i in dense], axis=1).astype(np.float32)
        multi = self.of_role("multi")
        if multi:
            parts = np.full((frame.height, len(multi), self.max_len), -1, np.int32)
            for j, i in enumerate(multi):
                local = self.encode_column(i, frame[self.fields[i].name])
                parts[:, j, :local.shape[1]] = np.where(local >= 0, local + self.offsets[i], -1)
            out["multi"] = parts
        return out

    def batch(self, frame):
        """What a model takes of a polars DataFrame of raw columns (dcnmix.data.features):
        the ids, or the typed dict."""
        from .features import typed
        return typed(self.encode(frame), **self.encode_typed(frame))

    def share_counts(self, batch) -> dict:
        """{field: (missing, out of vocabulary, total)} of an encoded batch: rows of each
        single-id field, elements of each multi-valued field (its missing: empty rows)."""
        from .features import parts
        from .vocab import MISSING, OOV
        got, out = parts(batch), {}
        for col, i in enumerate(self.of_role("ids")):
            local = got["ids"][:, col] - self.offsets[i]
            out[self.fields[i].name] = (int((local == MISSING).sum()), int((local == OOV).sum()),
                                        len(local))
        for col, i in enumerate(self.of_role("multi")):
            ids = got["multi"][:, col]
            local = np.where(ids >= 0, ids - self.offsets[i], -1)
            out[self.fields[i].name] = (int((local[:, 0] == MISSING).sum()),
                                        int((local == OOV).sum()), int((local >= 0).sum()))
        return out

    def shares(self, batch) -> dict:
        return {name: {"missing": m / max(t, 1), "oov": o / max(t, 1)}
                for name, (m, o, t) in self.share_counts(batch).items()}

    # ------------------------------------------------------------------ files
    def to_json(self) -> str:
        data = {"format": "dcnmix-feature-map", "version": 1, "label": self.label,
                "min_count": self.min_count, "feat_dim": self.feat_dim,
                "given_feat_dim": self.given_feat_dim,
                "offsets": [int(x) for x in self.offsets],
                "fields": [KINDS[f.kind].record(f) for f in self.fields],
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
            bad = [d["kind"] for d in data["fields"] if d["kind"] not in KINDS]
            if bad:
                raise ValueError(f"unknown field kinds {bad}")
            fields = tuple(KINDS[d["kind"]].field(d) for d in data["fields"])
            known = {"format", "version", "label", "min_count", "feat_dim", "given_feat_dim",
                     "offsets", "fields", "sha256"}
            fmap = cls(fields, int(data["min_count"]), data.get("label", "label"),
                       data.get("given_feat_dim"), {k: v for k, v in data.items() if k not in known})
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(path, None, f"not a feature map ({type(exc).__name__}: {exc})") from None
        if fmap.feat_dim != data["feat_dim"]:
            raise DataError(path, None, f"feat_dim {data['feat_dim']} does not match its fields "
                                        f"({fmap.feat_dim})")
        return fmap

    def save(self, path) -> None:
        from ..weights import atomic_write_bytes
        atomic_write_bytes(path, self.to_json().encode())

    @classmethod
    def load(cls, path) -> "FeatureMap":
        path = os.fspath(path)
        from ..files import PathError, read_bytes
        try:
            text = read_bytes(path).decode("utf-8")
        except PathError as exc:
            raise DataError(path, None, str(exc).removeprefix(f"{path}: ")) from None
        except UnicodeDecodeError as exc:
            raise DataError(path, None, f"not valid UTF-8 ({exc.reason}): corrupt file") from None
        except OSError as exc:
            raise DataError(path, None, f"cannot read ({exc.strerror or exc})") from None
        return cls.from_json(text, path)
