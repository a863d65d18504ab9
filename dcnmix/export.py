"""`dcnmix export RUN_DIR --format FMT --out FILE`: a run's best model as a graph a serving
system loads without this package's model code.

Each backend (dcnmix.backends) declares the formats it writes; today:

  stablehlo  (jax)    jax.export of the jitted Flax model, weights inlined; reload with
                      jax.export.deserialize(open(FILE, 'rb').read()).call(ids)
  onnx       (torch)  torch.onnx.export of the twin with the weights converted from the run
                      (dcnmix.layout), dynamic batch axis; run with onnxruntime.InferenceSession(FILE)

Both graphs take the same named inputs with one dtype each (docs/serving.md; dcnmix.data.
features.serving_inputs): ids int32 [batch, fields], and with typed data dense float32
[batch, D] and multi int32 [batch, Fm, length], batch and length symbolic; they return
probabilities [batch]. StableHLO is compiled for the platforms asked (--platforms cpu,cuda;
default this machine's). The run's feature map is copied beside the file (FILE's folder,
feature_map.json) to encode raw rows. Framework-free.
"""
from __future__ import annotations

import json
import os
import shutil

from . import backends
from .inference import load_run


def formats() -> dict[str, str]:
    """Export format -> the backend that writes it."""
    return backends.export_formats()


def export_run(run_dir: str, fmt: str, out: str, *, platforms=None) -> dict:
    """Export and copy the feature map beside `out`; returns what was written."""
    known = formats()
    if fmt not in known:
        raise ValueError(f"unknown format {fmt!r} (expected one of {tuple(known)})")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    run = load_run(run_dir, framework=known[fmt])
    info = run.backend.export(fmt, run.predictor, out, platforms=platforms)
    fmap = os.path.join(run_dir, "feature_map.json")
    if os.path.exists(fmap):
        target = os.path.join(os.path.dirname(os.path.abspath(out)), "feature_map.json")
        if os.path.abspath(fmap) != target:
            shutil.copyfile(fmap, target)
        info["feature_map"] = target
    info["file"] = out
    with open(os.path.join(run_dir, "summary.json")) as fh:
        info["config"] = json.load(fh)["config"]
    return info
