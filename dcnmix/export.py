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

import os

from . import backends, files
from .inference import load_run


def formats() -> dict[str, str]:
    """Export format -> the backend that writes it."""
    return backends.export_formats()


def export_run(run_dir: str, fmt: str, out: str, *, platforms=None, overwrite: bool = False) -> dict:
    """Export and copy the feature map beside `out`; returns what was written. `out` may
    not be a run folder's own file; a feature_map.json beside it that is another run's is
    kept (a ValueError) unless `overwrite`."""
    known = formats()
    if fmt not in known:
        raise ValueError(f"unknown format {fmt!r} (expected one of {tuple(known)})")
    check_target(out)
    run = load_run(run_dir, framework=known[fmt])
    source = os.path.join(run_dir, "feature_map.json")
    target = os.path.join(os.path.dirname(os.path.abspath(out)), "feature_map.json")
    fmap = files.read_bytes(source) if run.feature_map is not None else None
    if fmap is not None and os.path.realpath(source) != os.path.realpath(target):
        check_feature_map(target, fmap, overwrite)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    info = run.backend.export(fmt, run.predictor, out, platforms=platforms)
    if fmap is not None:
        if os.path.realpath(source) != os.path.realpath(target):
            files.write_bytes(target, fmap)
        info["feature_map"] = target
    info["file"] = out
    info["config"] = run.config.to_dict()
    return info


def check_target(out: str) -> None:
    """Refuse an --out that is a folder, or a file a run or prepared folder owns."""
    from .data.prepare.output import is_prepared_file
    from .run import RUN_FILES
    if os.path.isdir(out):
        raise ValueError(f"--out {out}: is a folder; give the file to write")
    folder, name = os.path.split(os.path.abspath(out))
    if name in RUN_FILES or is_prepared_file(name):
        raise ValueError(f"--out {out}: {name} is the name of a run's or a prepared folder's own "
                         "file; give another name (e.g. model.stablehlo, model.onnx)")


def check_feature_map(target: str, fmap: bytes, overwrite: bool) -> None:
    """A ValueError when `target` holds a feature map other than `fmap` (another run's
    export in the same folder) and `overwrite` is off."""
    if overwrite or not os.path.lexists(target):
        return
    try:
        same = files.read_bytes(target) == fmap
    except (OSError, ValueError):
        same = False
    if not same:
        raise ValueError(f"{target}: holds another run's feature map (an earlier export into "
                         "this folder); export into another folder, or --overwrite to replace it")
