"""Low-rank analysis of trained cross weights, as in the seed article.

`dcnmix svd RUN_DIR [--dataset SPEC] [--layer 0]` reads RUN_DIR/init.safetensors and
RUN_DIR/best.safetensors (written by `dcnmix train`) and writes RUN_DIR/svd.csv and
RUN_DIR/svd.png: singular values, min-max normalised, at initialisation and after training,
of DCN-V2's W, or of DCN-Mix's U_i V_i^T per expert and of their gated mixture
sum_i mean(g_i) U_i V_i^T (mean gate over validation rows: by default those of the data the
run recorded in its summary.json; not for a model with dense or multi-valued inputs, whose
experts are still shown). numpy + matplotlib only.
"""
from __future__ import annotations

import csv
import os

import numpy as np


def minmax(s: np.ndarray) -> np.ndarray:
    """The seed's normalisation: (s - min) / (max - min), so the largest is 1."""
    span = s.max() - s.min()
    return (s - s.min()) / span if span > 0 else np.ones_like(s)


def _softmax(z):
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def mean_gates(arrays: dict, cfg, ids: np.ndarray, layer: int) -> np.ndarray:
    """Mean softmax gate [K] of cross layer `layer` over the rows `ids` (numpy forward pass)."""
    x0 = arrays["embedding.embedding.weight"][ids].reshape(len(ids), -1).astype(np.float64)
    xl = x0
    for l in range(layer + 1):
        p = f"cross_net.cell_list.{l}"
        g = _softmax(xl @ arrays[f"{p}.gate.weight"].T + arrays[f"{p}.gate.bias"])
        if l == layer:
            return g.mean(0)
        out = xl.copy()
        for i in range(cfg.k):
            c = f"{p}.cross_cell.{i}"
            out += g[:, i:i + 1] * (((xl @ arrays[f"{c}.v"]) @ arrays[f"{c}.u"].T
                                     + arrays[f"{c}.b"][:, 0]) * x0)
        xl = out
    raise ValueError(f"layer {layer} out of range")


def spectra(arrays: dict, cfg, layer: int = 0, ids: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Normalised singular values of the cross weights of one layer, by name."""
    p = f"cross_net.cell_list.{layer}"
    if cfg.cross == "full":
        return {"W": minmax(np.linalg.svd(arrays[f"{p}.w"].astype(np.float64), compute_uv=False))}
    mats = [arrays[f"{p}.cross_cell.{i}.u"].astype(np.float64) @ arrays[f"{p}.cross_cell.{i}.v"].T
            for i in range(cfg.k)]
    out = {f"expert {i}": minmax(np.linalg.svd(m, compute_uv=False)) for i, m in enumerate(mats)}
    # the gated mixture is a matrix only for the seed's layer (linear experts, per-layer gate);
    # with g, C or shared gates each expert's U_i V_i^T is still shown
    if ids is not None and cfg.preset_name() == "seed":
        g = mean_gates(arrays, cfg, ids, layer)
        out["gated mixture"] = minmax(np.linalg.svd(sum(w * m for w, m in zip(g, mats)),
                                                    compute_uv=False))
    return out


def check_layer(cfg, layer: int) -> None:
    if cfg.model != "dcn":
        raise ValueError(f"svd analyses a DCN's cross weights; this run holds model {cfg.model}")
    if not 0 <= layer < cfg.order_num:
        raise ValueError(f"--layer {layer}: the model has cross layers 0..{cfg.order_num - 1}")


def run_curves(run_dir: str, ids: np.ndarray | None, layer: int = 0) -> tuple[dict, object]:
    """({curve name: normalised singular values} at init and learned, ModelConfig) of a run."""
    from .weights import load
    init, cfg, _ = load(os.path.join(run_dir, "init.safetensors"))
    best, _, _ = load(os.path.join(run_dir, "best.safetensors"))
    check_layer(cfg, layer)
    if cfg.inputs.typed:        # the mean gate's numpy forward reads single ids only
        ids = None
    if ids is not None and int(ids.max(initial=0)) >= cfg.feat_dim or (
            ids is not None and ids.shape[1] != cfg.field_num):
        raise ValueError(f"the dataset's ids (shape {ids.shape}, max {int(ids.max())}) do not fit "
                         f"the run's model ({cfg.field_num} fields, {cfg.feat_dim} ids)")
    curves = {f"init {k}": v for k, v in spectra(init, cfg, layer, ids).items()}
    curves.update({f"learned {k}": v for k, v in spectra(best, cfg, layer, ids).items()})
    return curves, cfg


def write_report(run_dir: str, curves: dict, cfg, layer: int) -> None:
    """RUN_DIR/svd.csv (every curve) and RUN_DIR/svd.png (W, the mixture, expert 0)."""
    from .files import check_folder, writing
    check_folder(run_dir)
    with writing(os.path.join(run_dir, "svd.csv"), "w") as fh:
        w = csv.writer(fh)
        w.writerow(["curve", "index", "normalised_singular_value"])
        for name, s in curves.items():
            w.writerows((name, i, f"{x:.6g}") for i, x in enumerate(s))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, s in curves.items():
        if name.endswith(("W", "gated mixture", "expert 0")):
            ax.scatter(range(len(s)), s, s=4, label=name)
    ax.set_xlabel("singular value index")
    ax.set_ylabel("min-max normalised singular value")
    ax.set_title(f"{cfg.cross} cross layer {layer}: init vs learned")
    ax.legend()
    fig.tight_layout()
    with writing(os.path.join(run_dir, "svd.png")) as fh:
        fig.savefig(fh, dpi=120, format="png")
    plt.close(fig)
