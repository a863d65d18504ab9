"""The parity checks: same weights in both frameworks -> same outputs, gradients, training.

Each check returns Rows (check, configuration, measured worst error, bound). Weights are
created in torch (random, BN statistics and affine parameters moved off their defaults),
converted with parity.convert, and both models see the same ids and the same batches.
"""
from __future__ import annotations

import dataclasses
import itertools
import re
from typing import Callable, Iterator

import numpy as np

from dcnmix.config import ModelConfig, TrainConfig, Variant

from .harness import (Row, gradients, jax_model, max_abs as _max_abs, per_tensor as _per_tensor,
                      random_ids, relative, torch_model, train_both)

SEED_SHAPE = dict(field_num=10, feat_dim=72, emb_num=16)
GRID = tuple(itertools.product((1, 2, 3, 4), ("parallel", "stacked"), ("mix", "full")))
QUICK_GRID = ((2, "parallel", "mix"), (1, "stacked", "full"))
# the DCN-Mix variants (dcnmix.config.PRESETS) and the options no preset uses, order 2
VARIANTS = ({"preset": "paper"}, {"preset": "deepctr"}, {"preset": "torchrec"},
            {"gate": "sigmoid", "gate_bias": False, "activation": "hard_tanh"},
            {"gate": "constant", "expert_bias": False, "c_matrix": True, "activation": "tanh"},
            {"preset": "deepctr", "gate_bias": True})
QUICK_VARIANTS = ({"preset": "deepctr"},)
FLOAT32_AUC_BOUND = 3e-3  # the same bound as the dropout check's independent streams


def is_pre_bn_bias(key: str) -> bool:
    """torch keys of the DNN's Linear biases (dnn.mlp.{4i}.bias), each followed by a BatchNorm."""
    m = re.fullmatch(r"dnn\.mlp\.(\d+)\.bias", key)
    return bool(m) and int(m.group(1)) % 4 == 0


def config_for(order: int, method: str, cross: str, dropout: float = 0.0, **shape) -> ModelConfig:
    return ModelConfig(**{**SEED_SHAPE, **shape}, order_num=order, method=method, cross=cross,
                       dropout=dropout)


def variant_config(order: int, method: str, preset: str = "seed", **options) -> ModelConfig:
    return ModelConfig.preset(preset, **SEED_SHAPE, order_num=order, method=method,
                              dropout=0.0, **options)


def name(cfg: ModelConfig) -> str:
    base = f"{cfg.cross}-{cfg.method}-{cfg.order_num}"
    preset = cfg.preset_name()
    if preset == "seed":
        return base
    if preset:
        return f"{base} [{preset}]"
    seed = Variant().kwargs()
    return f"{base} [" + ",".join(f"{k}={v}" for k, v in cfg.variant.kwargs().items()
                                  if seed[k] != v) + "]"


def check_forward(cfg: ModelConfig, seed: int = 0) -> list[Row]:
    import torch
    from dcnmix_jax.model import DCN
    from parity.convert import torch_to_flax
    model = torch_model(cfg, seed).eval()
    variables = torch_to_flax(model.state_dict(), cfg)
    ids = random_ids(cfg, 257, seed)
    with torch.no_grad():
        t_logits = model.logits(torch.as_tensor(ids, dtype=torch.long)).numpy()
        t_probs = model(torch.as_tensor(ids, dtype=torch.long)).numpy()
    j = jax_model(cfg)
    j_logits = np.asarray(j.apply(variables, ids, method=DCN.logits))
    j_probs = np.asarray(j.apply(variables, ids))
    scale = max(1.0, float(np.abs(t_logits).max()))
    return [Row("eval forward: probabilities", name(cfg), _max_abs(j_probs, t_probs), 1e-6),
            Row("eval forward: logits, error / max(1, max abs logit)", name(cfg),
                _max_abs(j_logits, t_logits) / scale, 1e-6, f"max abs logit {scale:.2f}")]


def check_train_forward(cfg: ModelConfig, seed: int = 0) -> list[Row]:
    """Train mode, dropout 0 (BN on batch statistics), and BN running stats after the step."""
    import torch
    from dcnmix_jax.model import DCN
    from parity.convert import torch_to_flax
    cfg = dataclasses.replace(cfg, dropout=0.0)
    model = torch_model(cfg, seed).train()
    variables = torch_to_flax(model.state_dict(), cfg)
    ids = random_ids(cfg, 256, seed + 1)
    t_logits = model.logits(torch.as_tensor(ids, dtype=torch.long)).detach().numpy()
    j_logits, updates = jax_model(cfg).apply(variables, ids, train=True, method=DCN.logits,
                                             mutable=["batch_stats"])
    after = torch_to_flax(model.state_dict(), cfg)["batch_stats"]
    stats_err = max(_max_abs(a, b) for a, b in zip(_leaves(updates["batch_stats"]), _leaves(after)))
    probs_err = _max_abs(1 / (1 + np.exp(-np.float64(j_logits))), 1 / (1 + np.exp(-np.float64(t_logits))))
    scale = max(1.0, float(np.abs(t_logits).max()))
    return [Row("train forward (dropout 0): probabilities", name(cfg), probs_err, 1e-6),
            Row("train forward: logits, error / max(1, max abs logit)", name(cfg),
                _max_abs(j_logits, t_logits) / scale, 1e-6, f"max abs logit {scale:.2f}"),
            Row("train forward: BN running stats", name(cfg), stats_err, 1e-6)]


def _leaves(tree) -> list[np.ndarray]:
    from dcnmix.layout import _flatten
    return [np.asarray(v) for _, v in sorted(_flatten(tree))]


KINK_MARGIN = 1e-5


def _batch_clear_of_relu_kinks(model, cfg: ModelConfig, seed: int, n: int = 256):
    """Random ids whose pre-ReLU activations all lie further than KINK_MARGIN from 0.

    ReLU's derivative jumps at 0: an activation within float32 rounding of the kink can take
    the other branch in the other framework (seen: 6e-8 in float64, -3.8e-7 in JAX, +1.4e-7
    in torch) and move a weight gradient by ~10%. Gradients are compared where they exist."""
    import torch
    inputs = []
    hooks = [m.register_forward_hook(lambda mod, args, out: inputs.append(args[0].detach()))
             for m in model.dnn.mlp if isinstance(m, torch.nn.ReLU)]
    try:
        for attempt in range(100):
            ids = random_ids(cfg, n, seed + 1000 * attempt)
            inputs.clear()
            with torch.no_grad():
                model.logits(torch.as_tensor(ids, dtype=torch.long))
            if min(float(x.abs().min()) for x in inputs) > KINK_MARGIN:
                return ids, attempt + 1
    finally:
        for h in hooks:
            h.remove()
    raise RuntimeError("no batch clear of ReLU kinks found")


def check_gradients(cfg: ModelConfig, seed: int = 0) -> list[Row]:
    """Gradients of the mean BCE w.r.t. every parameter; worst tensor's relative error."""
    cfg = dataclasses.replace(cfg, dropout=0.0)
    model = torch_model(cfg, seed).train()
    ids, tries = _batch_clear_of_relu_kinks(model, cfg, seed + 2)
    labels = (np.random.default_rng(seed).random(256) < 0.4).astype(np.float32)
    a, b = gradients(cfg, model, ids, labels)
    skip = lambda k: k.endswith(("running_mean", "running_var", "num_batches_tracked")) or is_pre_bn_bias(k)
    err, key = relative(a, b, skip=skip)
    # Linear biases feeding a BatchNorm have a true gradient of exactly 0 in training mode
    # (BN subtracts the batch mean); both frameworks return rounding noise there, so those
    # are checked for being ~0 relative to the model's largest gradient instead.
    top = max(float(np.abs(v).max()) for k, v in b.items() if not k.endswith("tracked"))
    zero = max(float(max(np.abs(a[k]).max(), np.abs(b[k]).max())) / top for k in b
               if is_pre_bn_bias(k))
    return [Row("gradients (max relative error)", name(cfg), err, 1e-5,
                f"worst: {key}; batch drawn {tries}x to clear ReLU kinks"),
            Row("gradients of pre-BN biases ~ 0 (/ max grad)", name(cfg), zero, 1e-5)]


def check_training(cfg: ModelConfig, train, valid, *, epochs: int = 3,
                   tc: TrainConfig = TrainConfig(batch_size=256), precision: str = "float64",
                   label: str = "training") -> tuple[list[Row], list[tuple[float, float]]]:
    """Dropout 0, same init and batches, tc's optimiser: per-epoch validation AUC and final
    parameters.

    Bounds: AUC 1e-4 and parameters 1e-3 relative in float64. In float32 the runs drift
    apart by design of Adam (see README "Parity"): two float32 runs behave like runs with
    different random streams, so their AUC gets the statistical check's bound and the
    parameter drift is reported, not bounded.
    """
    cfg = dataclasses.replace(cfg, dropout=0.0)
    t, j = train_both(cfg, train, valid, epochs=epochs, tc=tc, init_seed=0, shuffle_seed=1,
                      dropout_seed=2, precision=precision)
    auc_err = max(abs(a - b) for a, b in zip(t.aucs, j.aucs))
    param_err, key = _per_tensor(j.variables, t.variables, cfg)
    per_epoch = " ".join(f"e{e + 1}: torch {a:.6f} jax {b:.6f}" for e, (a, b) in
                         enumerate(zip(t.aucs, j.aucs)))
    label = f"{label} ({precision})"
    rows = [Row(f"{label}: val AUC per epoch", name(cfg), auc_err,
                1e-4 if precision == "float64" else FLOAT32_AUC_BOUND, per_epoch)]
    rows.append(Row(f"{label}: final params (relative)", name(cfg), param_err,
                    1e-3 if precision == "float64" else float("inf"), f"worst: {key}"))
    return rows, list(zip(t.aucs, j.aucs))


def check_dropout_auc(cfg: ModelConfig, train, valid, *, seeds: int = 3, epochs: int = 3,
                      tc: TrainConfig = TrainConfig(batch_size=256)) -> list[Row]:
    """Dropout 0.1, independent random streams: mean final validation AUC within 0.003."""
    cfg = dataclasses.replace(cfg, dropout=0.1)
    t_final, j_final = [], []
    for s in range(seeds):
        t, j = train_both(cfg, train, valid, epochs=epochs, tc=tc, init_seed=10 + s,
                          shuffle_seed=20 + s, dropout_seed=30 + s)
        t_final.append(t.aucs[-1])
        j_final.append(j.aucs[-1])
    detail = f"torch {np.mean(t_final):.5f} jax {np.mean(j_final):.5f} over {seeds} seeds"
    return [Row("dropout 0.1: mean final val AUC", name(cfg),
                abs(float(np.mean(t_final) - np.mean(j_final))), 3e-3, detail)]


def _nnx_rows(configs, quick: bool, progress, *, models: bool, data=None) -> Iterator[Row]:
    from dcnmix.data import split, synthetic
    from parity.nnx import run_nnx
    train, valid = data or split(synthetic(n=6000 if quick else 30000, seed=0), (0.8, 0.1, 0.1), seed=0)[:2]
    yield from run_nnx(configs, train, valid, name=name, progress=progress, quick=quick,
                       models=models)


# one float64 training row per optimiser of dcnmix.optimizers (with its typical settings)
OPTIMIZER_CASES = {"adam": dict(weight_decay=1e-3), "adamw": dict(weight_decay=1e-2),
                   "adagrad": dict(lr=1e-2, weight_decay=1e-3),
                   "sgd": dict(lr=5e-2, momentum=0.9, weight_decay=1e-3)}


# the DCN-V2 paper's training options, one row each: gradient clipping at a norm small
# enough that most steps clip (the paper's is 10); the moving average of the parameters at a
# decay short enough to move within two epochs (the paper's is 0.9999); He-normal kernels
PAPER_CASES = {"--clip-norm 0.05": dict(clip_norm=0.05, weight_decay=1e-3),
               "--ema 0.9": dict(ema=0.9), "--init he_normal --ema 0.99 --clip-norm 1":
               dict(init="he_normal", ema=0.99, clip_norm=1.0)}


def optimizer_rows(cfg: ModelConfig, train, valid, *, epochs: int = 2) -> Iterator[Row]:
    """Float64 training of `cfg` under every optimiser, then with the paper's options
    (paper_rows): identical per epoch in both frameworks."""
    from dcnmix.optimizers import NAMES
    for optimizer in NAMES:
        tc = TrainConfig(batch_size=256, optimizer=optimizer, **OPTIMIZER_CASES.get(optimizer, {}))
        yield from check_training(cfg, train, valid, epochs=epochs, tc=tc,
                                  label=f"training, --optimizer {optimizer}")[0]
    yield from paper_rows(cfg, train, valid, epochs=epochs)


def paper_rows(cfg: ModelConfig, train, valid, *, epochs: int = 2, cases=None) -> Iterator[Row]:
    """Float64 training with each of PAPER_CASES (or the named `cases`): --clip-norm, --ema
    (the averaged weights evaluated and compared) and --init he_normal."""
    for label in cases or PAPER_CASES:
        yield from check_training(cfg, train, valid, epochs=epochs,
                                  tc=TrainConfig(batch_size=256, **PAPER_CASES[label]),
                                  label=f"training, {label}")[0]


def run_all(quick: bool = False, progress: Callable[[str], None] = lambda s: None,
            variants_only: bool = False, nnx_only: bool = False) -> Iterator[Row]:
    """Every check over the seed grid and the variants (quick: a subset, smaller data;
    variants_only: the variant configurations alone; nnx_only: the Flax NNX and vmap rows
    alone, parity.nnx)."""
    from dcnmix.data import split, synthetic
    grid = () if variants_only else QUICK_GRID if quick else GRID
    configs = [config_for(*g) for g in grid]
    configs += [variant_config(2, "parallel", **v) for v in (QUICK_VARIANTS if quick else VARIANTS)]
    if nnx_only:
        yield from _nnx_rows(configs, quick, progress, models=not variants_only)
        return
    for cfg in configs:
        progress(f"forward / gradients {name(cfg)}")
        yield from check_forward(cfg)
        yield from check_train_forward(cfg)
        yield from check_gradients(cfg)
    data = synthetic(n=6000 if quick else 30000, seed=0)
    train, valid, _ = split(data, (0.8, 0.1, 0.1), seed=0)
    for i, cfg in enumerate(configs):
        # quick: float32 training (a statistical bound) for the first configuration only
        for precision in ("float64", "float32") if i == 0 or not quick else ("float64",):
            progress(f"training {name(cfg)} {precision}")
            yield from check_training(cfg, train, valid, precision=precision)[0]
    # (quick: none; tests/test_registry.py trains with weight decay under every optimiser)
    for cfg in () if quick else configs[::4]:
        progress(f"training with L2 weight decay {name(cfg)}")
        yield from check_training(cfg, train, valid, tc=TrainConfig(batch_size=256, weight_decay=1e-3),
                                  label="training, L2 1e-3")[0]
    if not variants_only and not quick:   # (tests/test_registry.py runs them on a small DCN)
        progress(f"optimisers {name(configs[0])}")
        yield from optimizer_rows(configs[0], train, valid)
    if not variants_only and quick:       # the paper's options together, one row
        progress(f"the paper's training options {name(configs[0])}")
        yield from paper_rows(configs[0], train, valid, cases=tuple(PAPER_CASES)[-1:])
    if not variants_only:
        # every other model (quick: conversion, forward, gradients)
        from parity.models import run_models
        yield from run_models(train, valid, progress=progress, training=not quick)
    if configs:  # Flax NNX against linen and the twin, the vmap form against gemm
        yield from _nnx_rows(configs, quick, progress, models=not variants_only, data=(train, valid))
    if quick:  # statistical: needs the full data and seeds to be meaningful
        return
    for cfg in configs:
        progress(f"dropout AUC {name(cfg)}")
        yield from check_dropout_auc(cfg, train, valid)
