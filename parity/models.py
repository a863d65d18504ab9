"""Parity of every model of the registry besides DCN's grid (parity.checks): the seed table's
baselines, the DNN alone and the cross network alone, in each case their model declares
(dcnmix.models: ModelSpec.parity): conversion both ways, eval forward, float64 gradients
and float64 training, dcnmix_jax against dcnmix_torch. Rows as parity.harness.Row."""
from __future__ import annotations

import dataclasses

import numpy as np

from dcnmix import models as registry
from dcnmix.config import Inputs, ModelConfig, TrainConfig

from .harness import (Row, gradients, jax_model, per_tensor, random_ids, torch_model, train_both,
                      with_typed, x64)

SHAPE = dict(field_num=10, feat_dim=72)
# typed inputs (dcnmix.config.Inputs): dense values, multi-valued fields beside 10 single-id
# fields; every model takes them (the baselines embed the dense values)
TYPED = {"dense_num": 3, "multi_num": 2}
# case -> (model, options over its preset), from each model's declaration, and each model
# once more with typed inputs (and DCN with embedded dense values and sum pooling)
CASES = {case: (name, options) for name in registry.names()
         for case, options in registry.spec(name).parity_cases().items()}
CASES.update({f"{name}+typed": (name, {"inputs": TYPED}) for name in registry.names()})
CASES["dcn+typed-embedded"] = ("dcn", {"inputs": {**TYPED, "pooling": "sum", "dense_embedding": True}})
NAMES = tuple(CASES)
TYPED_TRAINING = ("dcn+typed", "deepfm+typed")


def config(case: str, dropout: float | None = None) -> ModelConfig:
    """The ModelConfig of a case, with `dropout` where the model has it."""
    model, options = CASES[case]
    cfg = ModelConfig.create(model=model, **SHAPE, **{**registry.spec(model).all_defaults(), **options})
    return cfg if dropout is None or "dropout" not in cfg.kwargs() else dataclasses.replace(cfg, dropout=dropout)


def check_conversion_and_forward(case: str) -> list[Row]:
    import torch
    from .convert import flax_to_torch, torch_to_flax
    cfg = config(case)
    model = torch_model(cfg, seed=0).eval()
    variables = torch_to_flax(model.state_dict(), cfg)
    ids = random_ids(cfg, 512, 1)
    from dcnmix_torch.inputs import to_torch
    with torch.no_grad():
        want = model(to_torch(ids)).numpy()
    got = np.asarray(jax_model(cfg).apply(variables, ids))
    back = flax_to_torch(variables, cfg)
    exact = max(float((back[k] - v).abs().max()) for k, v in model.state_dict().items())
    return [Row("models: weights round trip (bit-exact)", case, exact, 0.0),
            Row("models: eval forward probabilities", case, float(np.abs(got - want).max()), 1e-6)]


def _relative_with_zeros(a: dict, b: dict) -> tuple[float, float]:
    """(worst relative error over tensors, worst |value| of tensors that are ~0 in both /
    the largest gradient): Linear biases that feed a BatchNorm have a true gradient of 0."""
    keys = [k for k in b if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    top = max(float(np.abs(b[k]).max()) for k in keys)
    errors, zeros = [0.0], [0.0]
    for k in keys:
        scale = float(np.abs(b[k]).max())
        if scale < 1e-9 * top:
            zeros.append(max(scale, float(np.abs(a[k]).max())) / top)
        else:
            errors.append(float(np.abs(a[k] - b[k]).max()) / scale)
    return max(errors), max(zeros)


def check_gradients(case: str) -> list[Row]:
    """Float64 gradients of the mean BCE (train mode, dropout 0) for every parameter."""
    cfg = config(case, dropout=0.0)
    model = torch_model(cfg, seed=0).double().train()
    ids = random_ids(cfg, 256, 2)
    labels = (np.random.default_rng(3).random(256) < 0.4).astype(np.float64)
    with x64(True):
        err, zero = _relative_with_zeros(*gradients(cfg, model, ids, labels))
    return [Row("models: gradients, float64 (max relative)", case, err, 1e-5),
            Row("models: gradients that are 0 (pre-BN biases) ~ 0", case, zero, 1e-9)]


def check_training(case: str, train, valid, *, epochs: int = 2, tc: TrainConfig | None = None,
                   label: str = "models: float64 training") -> list[Row]:
    """Float64, dropout 0, same init and batches, tc's optimiser (default: Adam, lr 1e-3,
    batch 256): validation AUC per epoch and the final parameters."""
    cfg = config(case, dropout=0.0)
    tc = tc or TrainConfig(batch_size=256)
    if cfg.inputs.typed:
        train, valid = with_typed(train, cfg, 5), with_typed(valid, cfg, 6)
    t, j = train_both(cfg, train, valid, epochs=epochs, tc=tc, init_seed=0, shuffle_seed=1,
                      dropout_seed=2, perturb=True, precision="float64")
    detail = " ".join(f"e{e + 1}: torch {a:.8f} jax {b:.8f}" for e, (a, b) in enumerate(zip(t.aucs, j.aucs)))
    param_err, key = per_tensor(j.variables, t.variables, cfg)
    return [Row(f"{label}, val AUC per epoch", case, max(abs(a - b) for a, b in zip(t.aucs, j.aucs)),
                1e-6, detail),
            Row(f"{label}, final params (relative)", case, param_err, 1e-6, f"worst: {key}")]


def run_models(train, valid, progress=lambda s: None, training: bool = True):
    for case in NAMES:
        progress(f"models {case}")
        yield from check_conversion_and_forward(case)
        yield from check_gradients(case)
        if training and ("+" not in case or case in TYPED_TRAINING):
            yield from check_training(case, train, valid)
