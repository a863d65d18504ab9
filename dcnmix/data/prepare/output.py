"""The output folder: written in a working folder beside it, renamed over it once complete
(feature_map.json last), so a folder with a feature map is whole."""
from __future__ import annotations

import os
import shutil

from ..featuremap import FeatureMap


def fresh(out: str) -> str:
    """An empty working folder beside `out` (renamed over it when complete)."""
    tmp = os.path.join(os.path.dirname(os.path.abspath(out)), f".tmp-prepare-{os.path.basename(out)}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    return tmp


def finish(tmp: str, out: str, fmap: FeatureMap) -> FeatureMap:
    """Write the feature map into `tmp`, then put `tmp` in the place of `out`."""
    fmap.save(os.path.join(tmp, "feature_map.json"))
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.replace(tmp, out)
    return fmap
