"""`dcnmix export RUN_DIR --format stablehlo|onnx --out FILE`: a run's best model as a graph
a serving system loads without this package's model code.

Both graphs take encoded ids [batch, fields] (int32 for StableHLO; int64 or int32 for ONNX)
with a symbolic batch dimension and return probabilities [batch]. The run's feature map is
copied beside the file (FILE's folder, feature_map.json) to encode raw rows.

  stablehlo  jax.export of the jitted Flax model, weights inlined; reload with
             jax.export.deserialize(open(FILE, 'rb').read()).call(ids)
  onnx       torch.onnx.export of the twin with the weights converted from the run
             (dcnmix.layout), dynamic batch axis; run with onnxruntime.InferenceSession(FILE)
"""
from __future__ import annotations

import json
import os
import shutil
import warnings

import numpy as np

from .inference import load_run
from .weights import atomic_write_bytes

FORMATS = ("stablehlo", "onnx")
ONNX_OPSET = 17


def export_stablehlo(run_dir: str, out: str) -> dict:
    import jax
    from jax import export
    run = load_run(run_dir, framework="jax")
    fn = jax.jit(lambda ids: run.model.apply(run.variables, ids))
    batch = export.symbolic_shape("batch")[0]
    exported = export.export(fn)(jax.ShapeDtypeStruct((batch, run.config.field_num), np.int32))
    atomic_write_bytes(out, exported.serialize())
    return {"format": "stablehlo", "input": "ids int32 [batch, %d]" % run.config.field_num,
            "platforms": list(exported.platforms)}


def export_onnx(run_dir: str, out: str) -> dict:
    import torch
    run = load_run(run_dir, framework="torch")
    example = torch.zeros((2, run.config.field_num), dtype=torch.long)
    tmp = os.path.join(os.path.dirname(os.path.abspath(out)), f".tmp-{os.path.basename(out)}")
    try:
        with warnings.catch_warnings():   # the TorchScript exporter: deprecated, needs no onnxscript
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(run.module, (example,), tmp, input_names=["ids"],
                              output_names=["probs"], opset_version=ONNX_OPSET, dynamo=False,
                              dynamic_axes={"ids": {0: "batch"}, "probs": {0: "batch"}})
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return {"format": "onnx", "opset": ONNX_OPSET, "input": f"ids int64 [batch, {run.config.field_num}]"}


def export_run(run_dir: str, fmt: str, out: str) -> dict:
    """Export and copy the feature map beside `out`; returns what was written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (expected one of {FORMATS})")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    info = (export_stablehlo if fmt == "stablehlo" else export_onnx)(run_dir, out)
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
