"""What `dcnmix prepare` prints about a prepared folder: rows per split, feat_dim, and the
fields whose validation or test rows often got the out-of-vocabulary id."""
from __future__ import annotations

from ..featuremap import FeatureMap
from .options import SPLITS


def report(fmap: FeatureMap, threshold: float = 0.01, most: int = 12) -> str:
    """What prepare prints: rows per split, feat_dim, and the fields whose validation or test
    rows got the out-of-vocabulary id more often than `threshold` (worst first)."""
    rows = fmap.info.get("rows", {})
    lines = [f"{' / '.join(f'{rows.get(s, 0):,}' for s in SPLITS)} rows (train / valid / test), "
             f"{len(fmap.fields)} fields, {fmap.feat_dim:,} ids (min_count {fmap.min_count})"]
    oov = fmap.info.get("oov", {})
    worst = sorted(((max(oov[s][n]["oov"] for s in ("valid", "test")), n) for n in fmap.field_names
                    if n in oov.get("valid", {})), reverse=True)
    worst = [(w, n) for w, n in worst if w > threshold]
    if worst:
        lines.append("out-of-vocabulary id (share of rows; feature_map.json has every field):")
        lines += [f"  {n:>12}: valid {oov['valid'][n]['oov']:6.1%}  test {oov['test'][n]['oov']:6.1%}"
                  f"  (missing {oov['test'][n]['missing']:.1%})" for _, n in worst[:most]]
        if len(worst) > most:
            lines.append(f"  ... and {len(worst) - most} more fields above {threshold:.0%}")
    return "\n".join(lines)
