"""What `dcnmix prepare` prints about a prepared folder: rows per split, feat_dim, and the
fields whose validation or test rows often got the out-of-vocabulary id."""
from __future__ import annotations

from ..featuremap import FeatureMap
from .options import SPLITS


FEW_BUCKETS, ONE_BUCKET = 3, 0.95


def field_warnings(fmap: FeatureMap, train_rows: int) -> list[str]:
    """Numeric fields that ended in very few buckets (fewer than FEW_BUCKETS kept) or with one
    bucket holding nearly all training rows (more than ONE_BUCKET): the rule loses the
    signal; a dense field or another rule (--dense, --buckets) keeps it."""
    out = []
    for f in fmap.fields:
        if f.kind != "numeric":
            continue
        buckets = f.cardinality - 2
        top = max(f.counts, default=0) / max(train_rows, 1)
        if buckets < FEW_BUCKETS:
            out.append(f"field {f.name}: {buckets} bucket(s) by the {f.rule or 'log'} rule; try "
                       f"--dense {f.name} or --buckets {f.name}=quantile:16")
        elif f.counts and top > ONE_BUCKET:
            out.append(f"field {f.name}: one bucket holds {top:.1%} of the training rows by the "
                       f"{f.rule or 'log'} rule; try --dense {f.name} or --buckets {f.name}=quantile:16")
    return out


def report(fmap: FeatureMap, threshold: float = 0.01, most: int = 12) -> str:
    """What prepare prints: rows per split, feat_dim, and the fields whose validation or test
    rows got the out-of-vocabulary id more often than `threshold` (worst first)."""
    rows = fmap.info.get("rows", {})
    lines = [f"{' / '.join(f'{rows.get(s, 0):,}' for s in SPLITS)} rows (train / valid / test), "
             f"{len(fmap.fields)} fields, {fmap.feat_dim:,} ids (min_count {fmap.min_count})"]
    if fmap.dense_names or fmap.multi_names:
        lines.append(f"typed: {len(fmap.dense_names)} dense columns, {len(fmap.multi_names)} "
                     f"multi-valued fields (max_len {fmap.max_len})")
    labels = fmap.info.get("labels")
    if labels:
        lines.append(f"labels: {labels['positive']!r} positive; training values "
                     + ", ".join(f"{k!r} {v:,}" for k, v in sorted(labels["train_values"].items())))
    lines += [f"warning: {w}" for w in fmap.info.get("warnings", [])]
    oov = fmap.info.get("oov", {})
    for name in fmap.multi_names:
        cut = oov.get("train", {}).get(name, {}).get("truncated", 0)
        if cut:
            lines.append(f"field {name}: {cut:.1%} of training rows cut to max_len {fmap.max_len}")
    worst = sorted(((max(oov[s][n].get("oov", 0) for s in ("valid", "test")), n)
                    for n in fmap.field_names if n in oov.get("valid", {})), reverse=True)
    worst = [(w, n) for w, n in worst if w > threshold]
    if worst:
        lines.append("out-of-vocabulary id (share of rows; feature_map.json has every field):")
        lines += [f"  {n:>12}: valid {oov['valid'][n]['oov']:6.1%}  test {oov['test'][n]['oov']:6.1%}"
                  f"  (missing {oov['test'][n]['missing']:.1%})" for _, n in worst[:most]]
        if len(worst) > most:
            lines.append(f"  ... and {len(worst) - most} more fields above {threshold:.0%}")
    return "\n".join(lines)
