"""Parity of the Flax NNX modules (dcnmix_jax.nnx) with the linen ones and the twin, and of
the mixture's vmap form with its gemm form. Rows as parity.harness.Row.

Weights start in the twin (seeded, perturbed), reach linen through the layout
(parity.convert) and NNX through from_linen; NNX's gemm and experts forms run linen's
arithmetic through the same functions, so their bounds are 0 (bit-equal)."""
from __future__ import annotations

import dataclasses

import numpy as np

from dcnmix.config import ModelConfig, TrainConfig

from .harness import Row, jax_model, random_ids, torch_model, x64


def _max_abs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def _nnx(cfg: ModelConfig, variables, mixture: str = "gemm"):
    from dcnmix_jax.nnx.build import from_linen_variables
    return from_linen_variables(cfg, variables, mixture=mixture)


def forward_rows(cfg: ModelConfig, case: str, mixture: str = "gemm") -> list[Row]:
    """Eval probabilities NNX vs linen (same form) and vs the twin; weights twin -> linen ->
    NNX -> linen -> twin bit-exact."""
    import torch
    from dcnmix_jax.model import model_for
    from dcnmix_jax.nnx import to_linen
    from dcnmix_torch.inputs import to_torch
    from .convert import flax_to_torch, torch_to_flax
    twin = torch_model(cfg, seed=0).eval()
    variables = torch_to_flax(twin.state_dict(), cfg)
    model = _nnx(cfg, variables, mixture)
    batch = random_ids(cfg, 257, 1)
    with torch.no_grad():
        want = twin(to_torch(batch)).numpy()
    linen = np.asarray(model_for(cfg, mixture=mixture).apply(variables, batch))
    got = np.asarray(model(batch))
    back = flax_to_torch(to_linen(model), cfg)
    exact = max(float((back[k] - v).abs().max()) for k, v in twin.state_dict().items())
    tag = _tag(mixture)
    return [Row(f"nnx: eval probabilities vs linen{tag}", case, _max_abs(got, linen), 0.0),
            Row(f"nnx: eval probabilities vs torch{tag}", case, _max_abs(got, want), 1e-6),
            Row(f"nnx: weights torch -> linen -> nnx -> torch (bit-exact){tag}", case, exact, 0.0)]


def gradient_rows(cfg: ModelConfig, case: str, mixture: str = "gemm") -> list[Row]:
    """Float32 gradients of the mean BCE in train mode (dropout 0), NNX vs linen, every leaf
    (worst error / largest gradient)."""
    import jax
    from flax import nnx
    from dcnmix.layout import _flatten
    from dcnmix_jax.model import model_for
    from dcnmix_jax.nnx import loss_fn
    from dcnmix_jax.nnx.convert import state_to_linen
    from dcnmix_jax.optim import make_optimizer
    from dcnmix_jax.steps import create_state, loss_fn as linen_loss
    from .convert import torch_to_flax
    cfg = dataclasses.replace(cfg, dropout=0.0) if "dropout" in cfg.kwargs() else cfg
    variables = torch_to_flax(torch_model(cfg, seed=0).state_dict(), cfg)
    batch = random_ids(cfg, 256, 2)
    labels = (np.random.default_rng(3).random(256) < 0.4).astype(np.float32)
    model = _nnx(cfg, variables, mixture)
    model.train()
    got = dict(_flatten(state_to_linen(nnx.grad(loss_fn)(model, batch, labels))))
    state = create_state(model_for(cfg, mixture=mixture), variables, make_optimizer(TrainConfig()),
                         jax.random.key(0))
    want = dict(_flatten(jax.grad(lambda p: linen_loss(p, state, batch, labels)[0])(state.params)))
    top = max(float(np.abs(v).max()) for v in want.values())
    err = max(_max_abs(got[k], want[k]) for k in want) / top
    return [Row(f"nnx: gradients vs linen (/ max grad){_tag(mixture)}", case, err, 1e-5)]


def training_rows(cfg: ModelConfig, case: str, train, valid, *, epochs: int = 2,
                  tc: TrainConfig = TrainConfig(batch_size=256)) -> list[Row]:
    """Float64, dropout 0, the same weights, batches and optimiser: linen's train_step
    (dcnmix_jax.steps) and NNX's (nnx.Optimizer, nnx.jit); validation AUC per epoch and
    the final weights."""
    import jax
    from flax import nnx
    from sklearn.metrics import roc_auc_score
    from dcnmix.data import batches
    from dcnmix_jax import nnx as dnnx
    from dcnmix_jax.optim import make_optimizer
    from dcnmix_jax.steps import create_state, predict, train_step
    from .convert import torch_to_flax
    cfg = dataclasses.replace(cfg, dropout=0.0) if "dropout" in cfg.kwargs() else cfg
    with x64(True):
        twin = torch_model(cfg, seed=0, perturb=False).double()
        variables = torch_to_flax(twin.state_dict(), cfg)
        state = create_state(jax_model(cfg), variables, make_optimizer(tc), jax.random.key(0))
        model = _nnx(cfg, variables)
        optimizer = nnx.Optimizer(model, make_optimizer(tc), wrt=nnx.Param)
        linen_aucs, nnx_aucs = [], []
        for epoch in range(epochs):
            model.train()
            for ids, labels in batches(train, tc.batch_size, seed=1, epoch=epoch):
                state, _ = train_step(state, ids, labels)
                dnnx.train_step(model, optimizer, ids, labels)
            model.eval()
            linen_aucs.append(roc_auc_score(valid.labels, predict(state, valid.inputs)))
            nnx_aucs.append(roc_auc_score(valid.labels, np.asarray(dnnx.predict(model, valid.inputs))))
        final = dnnx.to_linen(model)
        err = max(_max_abs(a, b) for a, b in zip(jax.tree_util.tree_leaves(state.variables()),
                                                 jax.tree_util.tree_leaves(final)))
    detail = " ".join(f"e{e + 1}: linen {a:.10f} nnx {b:.10f}" for e, (a, b) in
                      enumerate(zip(linen_aucs, nnx_aucs)))
    return [Row("nnx: float64 training, val AUC per epoch vs linen", case,
                max(abs(a - b) for a, b in zip(linen_aucs, nnx_aucs)), 0.0, detail),
            Row("nnx: float64 training, final weights vs linen", case, err, 1e-12)]


def vmap_rows(cfg: ModelConfig, case: str) -> list[Row]:
    """mixture='vmap' (Expert mapped over K with nn.vmap) vs 'gemm' on the same weights."""
    from dcnmix_jax.model import model_for
    from .convert import torch_to_flax
    variables = torch_to_flax(torch_model(cfg, seed=0).eval().state_dict(), cfg)
    batch = random_ids(cfg, 257, 1)
    gemm = np.asarray(model_for(cfg).apply(variables, batch))
    vmap = np.asarray(model_for(cfg, mixture="vmap").apply(variables, batch))
    return [Row("mixture vmap vs gemm: eval probabilities (linen)", case, _max_abs(vmap, gemm), 1e-5)]


def _tag(mixture: str) -> str:
    return "" if mixture == "gemm" else f" (mixture {mixture})"


def run_nnx(configs, train, valid, *, name, progress=lambda s: None, quick: bool = False,
            models: bool = True):
    """The NNX and vmap rows: every configuration's forward and gradients in the gemm and
    (cross 'mix') vmap forms, every registered model's case, float64 training of the first configuration
    (quick: the first configuration's forward rows alone; tests/test_nnx.py runs the rest).
    `name`: a configuration's label (parity.checks.name)."""
    from .models import NAMES, config
    for cfg in configs[:1] if quick else configs:
        progress(f"nnx {name(cfg)}")
        mix = cfg.cross == "mix"          # the vmap form is a form of the mixture layer
        for mixture in ("gemm", "vmap") if mix else ("gemm",):
            yield from forward_rows(cfg, name(cfg), mixture)
            if not quick:
                yield from gradient_rows(cfg, name(cfg), mixture)
        if mix:
            yield from vmap_rows(cfg, name(cfg))
    if quick:
        return
    for case in NAMES if models else ():
        progress(f"nnx models {case}")
        yield from forward_rows(config(case), case)
        yield from gradient_rows(config(case), case)
    progress(f"nnx float64 training {name(configs[0])}")
    yield from training_rows(configs[0], name(configs[0]), train, valid)
