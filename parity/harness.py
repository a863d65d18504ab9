"""The one parity harness every model's checks use: rows, both frameworks' models from one
config and one set of weights, their gradients, and training both on the same batches.

Weights are made in torch (seeded), converted with the layout every model declares
(dcnmix.models, through parity.convert), and both models see the same ids and batches.
"""
from __future__ import annotations

import contextlib
import dataclasses

import numpy as np

from dcnmix.config import ModelConfig, TrainConfig


@dataclasses.dataclass(frozen=True)
class Row:
    """One check's result: its name, the configuration, the worst error and its bound."""

    check: str
    config: str
    error: float
    bound: float
    detail: str = ""

    @property
    def passed(self) -> bool:
        return bool(np.isfinite(self.error)) and self.error <= self.bound


def x64(enabled: bool):
    """JAX's float64 mode as a context (its name moved between jax versions)."""
    import jax
    if not enabled:
        return contextlib.nullcontext()
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64
    return enable_x64()


def max_abs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def torch_model(cfg: ModelConfig, seed: int, perturb: bool = True, init: str = "seed"):
    """The twin of `cfg` with seeded weights (init: TrainConfig.init); with perturb, every float tensor moved off its
    initial value (BN statistics and affine parameters, biases, zero-initialised first-order
    weights), so that every path of the arithmetic is exercised."""
    import torch
    from dcnmix_torch.model import model_for
    torch.manual_seed(seed)
    model = model_for(cfg, init=init)
    if perturb:
        with torch.no_grad():
            for key, value in model.state_dict().items():
                if key.endswith("num_batches_tracked"):
                    value.fill_(3)
                elif key.endswith("running_var"):
                    value.uniform_(0.5, 2.0)
                elif value.is_floating_point():
                    value.add_(0.1 * torch.randn_like(value))
    return model


def jax_model(cfg: ModelConfig):
    from dcnmix_jax.model import model_for
    return model_for(cfg)


def random_ids(cfg: ModelConfig, n: int, seed: int, length: int = 5):
    """A random batch of n rows for cfg's model: ids [n, field_num], and with typed inputs the
    dict (dcnmix.data.features) with dense values and multi-valued ids of up to `length`
    elements (-1 padding; some lists empty but for one element)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, cfg.feat_dim, (n, cfg.field_num)).astype(np.int32)
    if not cfg.inputs.typed:
        return ids
    from dcnmix.data import features
    dense = rng.standard_normal((n, cfg.inputs.dense_num)).astype(np.float32) \
        if cfg.inputs.dense_num else None
    multi = None
    if cfg.inputs.multi_num:
        multi = rng.integers(0, cfg.feat_dim, (n, cfg.inputs.multi_num, length)).astype(np.int32)
        lengths = rng.integers(1, length + 1, (n, cfg.inputs.multi_num, 1))
        multi = np.where(np.arange(length) < lengths, multi, -1).astype(np.int32)
    return features.typed(ids, dense, multi)


def with_typed(dataset, cfg: ModelConfig, seed: int):
    """`dataset` with random dense values and multi-valued ids of cfg's typed inputs added
    (dcnmix.data.Dataset.dense / .multi), the labels unchanged: rows for typed parity."""
    import dataclasses as dc
    batch = random_ids(dataclasses.replace(cfg, field_num=dataset.field_num), len(dataset), seed)
    return dc.replace(dataset, dense=batch.get("dense"), multi=batch.get("multi"),
                      dense_names=tuple(f"d{i}" for i in range(cfg.inputs.dense_num)),
                      multi_names=tuple(f"m{i}" for i in range(cfg.inputs.multi_num)))


def gradients(cfg: ModelConfig, model, ids, labels) -> tuple[dict, dict]:
    """(JAX, torch) gradients of the mean BCE in training mode w.r.t. every parameter, both
    torch-keyed numpy arrays (buffers: the torch values in both), for the twin `model` (in
    train mode) and the Flax module converted from its weights."""
    import jax
    import torch
    import torch.nn.functional as F
    from dcnmix_jax.optim import make_optimizer
    from dcnmix_jax.steps import create_state, loss_fn
    from .convert import flax_to_arrays, torch_to_flax
    variables = torch_to_flax(model.state_dict(), cfg)
    from dcnmix_torch.inputs import to_torch
    logits = model.logits(to_torch(ids))
    F.binary_cross_entropy_with_logits(logits, torch.as_tensor(labels, dtype=logits.dtype)).backward()
    t_grads = {k: (p.grad if p.grad is not None else torch.zeros_like(p))
               for k, p in model.named_parameters()}
    buffers = {k: v for k, v in model.state_dict().items() if k not in t_grads}
    t_grads = {k: v.detach().cpu().numpy() for k, v in {**t_grads, **buffers}.items()}
    state = create_state(jax_model(cfg), variables, make_optimizer(TrainConfig()), jax.random.key(0))
    j_params = jax.grad(lambda p: loss_fn(p, state, ids, labels)[0])(state.params)
    j_grads = flax_to_arrays({"params": j_params, "batch_stats": variables.get("batch_stats", {})}, cfg)
    return j_grads, t_grads


@dataclasses.dataclass
class TrainRun:
    aucs: list[float]
    variables: dict


def train_both(cfg: ModelConfig, train, valid, *, epochs: int, tc: TrainConfig,
               init_seed: int, shuffle_seed: int, dropout_seed: int, perturb: bool = False,
               precision: str = "float32") -> tuple[TrainRun, TrainRun]:
    """Same initial weights (made in torch, converted), same batches, the optimiser of `tc`
    in each framework (dcnmix_jax.optim / dcnmix_torch.optim); returns (torch, jax) with the
    validation AUC after each epoch and the final variables.

    precision 'float64' runs both frameworks in double precision (torch .double(), JAX x64).
    """
    import jax
    import torch
    from sklearn.metrics import roc_auc_score
    from dcnmix.data import batches
    from dcnmix_jax import optim as jax_optim
    from dcnmix_jax.steps import create_state, predict as j_predict, train_step
    from dcnmix_torch import optim as torch_optim
    from dcnmix_torch.steps import averaged, predict as t_predict, train_step as t_step
    from .convert import torch_to_flax
    model = torch_model(cfg, init_seed, perturb=perturb, init=tc.init)
    if precision == "float64":
        model = model.double()
    with x64(precision == "float64"):
        state = create_state(jax_model(cfg), torch_to_flax(model.state_dict(), cfg),
                             jax_optim.make_optimizer(tc), jax.random.key(dropout_seed), ema=tc.ema)
        optimizer = torch_optim.make_optimizer(model, tc)
        average = None if tc.ema is None else averaged(model, tc.ema)
        evaluated = model if average is None else average.module   # --ema: the average
        torch.manual_seed(dropout_seed)
        t_aucs, j_aucs = [], []
        for epoch in range(epochs):
            for ids, labels in batches(train, tc.batch_size, seed=shuffle_seed, epoch=epoch):
                t_step(model, optimizer, ids, labels, clip_norm=tc.clip_norm)
                if average is not None:
                    average.update_parameters(model)
                state, _ = train_step(state, ids, labels)
            t_aucs.append(roc_auc_score(valid.labels, t_predict(evaluated, valid.inputs)))
            j_aucs.append(roc_auc_score(valid.labels, j_predict(state, valid.inputs)))
        j_vars = jax.device_get(state.variables())
    jax.clear_caches()  # each configuration compiles anew; a full run would otherwise pile up
    return TrainRun(t_aucs, torch_to_flax(evaluated.state_dict(), cfg)), TrainRun(j_aucs, j_vars)


def per_tensor(variables_a: dict, variables_b: dict, cfg: ModelConfig,
               skip=lambda key: False) -> tuple[float, str]:
    """Worst tensor's relative error max|a - b| / max|b| (b the torch reference) and its key."""
    from .convert import flax_to_arrays
    a, b = flax_to_arrays(variables_a, cfg), flax_to_arrays(variables_b, cfg)
    return relative(a, b, skip=lambda k: k.endswith("num_batches_tracked") or skip(k))


def relative(a: dict, b: dict, skip=lambda key: False) -> tuple[float, str]:
    """Worst relative error max|a[k] - b[k]| / max|b[k]| over the torch keys of b, and its key."""
    return max((max_abs(a[k], b[k]) / max(float(np.max(np.abs(b[k]))), 1e-30), k)
               for k in b if not skip(k))
