"""Parity of the seed table's baselines (FM, FFM, PNN inner and outer, DeepFM, NFM): conversion both ways,
eval forward, gradients and float64 training, dcnmix_jax.baselines against
dcnmix_torch.baselines. Rows as parity.checks.Row."""
from __future__ import annotations

import numpy as np

from .checks import Row, _x64

# case -> (model, options): each baseline in its seed preset, and PNN with outer products
CASES = {"fm": ("fm", {}), "ffm": ("ffm", {}), "pnn": ("pnn", {}),
         "opnn": ("pnn", {"product": "outer"}), "deepfm": ("deepfm", {}), "nfm": ("nfm", {})}
NAMES = tuple(CASES)
SHAPE = dict(field_num=10, feat_dim=72)


def models(name: str, seed: int = 0, dropout: float | None = None, double: bool = False):
    """(torch model, Flax module, Flax variables converted from the torch weights)."""
    import torch
    from dcnmix_jax.baselines import MODELS as JAX
    from dcnmix_torch.baselines import MODELS as TORCH
    from .convert import module_to_flax
    base, options = CASES[name]
    if dropout is not None and base not in ("fm", "ffm"):
        options = {**options, "dropout": dropout}
    torch.manual_seed(seed)
    model = TORCH[base](SHAPE["field_num"], SHAPE["feat_dim"], **options)
    with torch.no_grad():      # nonzero first-order weights and BN statistics: every path used
        for key, p in model.named_parameters():
            if key in ("linear.weight", "bias") or key.endswith("bn.weight") or "bn_" in key:
                p.add_(0.1 * torch.randn_like(p))
        for key, b in model.named_buffers():
            if key.endswith("running_mean"):
                b.add_(0.1 * torch.randn_like(b))
            elif key.endswith("running_var"):
                b.mul_(1 + 0.2 * torch.rand_like(b))
    if double:
        model = model.double()
    return model, JAX[base](**SHAPE, **options), module_to_flax(model)


def _ids(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, SHAPE["feat_dim"], (n, SHAPE["field_num"])).astype(np.int32)


def check_conversion_and_forward(name: str) -> list[Row]:
    import torch
    from .convert import flax_to_module
    model, module, variables = models(name)
    model.eval()
    ids = _ids(512, 1)
    with torch.no_grad():
        want = model(torch.as_tensor(ids, dtype=torch.long)).numpy()
    got = np.asarray(module.apply(variables, ids))
    back = flax_to_module(variables, model)
    exact = max(float((back[k] - v).abs().max()) for k, v in model.state_dict().items())
    return [Row("baselines: weights round trip (bit-exact)", name, exact, 0.0),
            Row("baselines: eval forward probabilities", name, float(np.abs(got - want).max()), 1e-6)]


def _relative(a, b) -> tuple[float, float]:
    """(worst relative error over tensors, worst |value| of tensors that are ~0 in both /
    the largest gradient): Linear biases that feed a BatchNorm have a true gradient of 0."""
    top = max(float(np.abs(x).max()) for x in b)
    errors, zeros = [], [0.0]
    for x, y in zip(a, b):
        scale = float(np.abs(y).max())
        if scale < 1e-9 * top:
            zeros.append(max(scale, float(np.abs(x).max())) / top)
        else:
            errors.append(float(np.abs(x - y).max()) / scale)
    return max(errors), max(zeros)


def check_gradients(name: str) -> list[Row]:
    """Float64 gradients of the mean BCE (train mode, dropout 0) for every parameter."""
    import jax
    import torch
    import torch.nn.functional as F
    from dcnmix_jax.optim import torch_adam
    from dcnmix_jax.steps import create_state, loss_fn
    from .convert import module_to_flax
    model, module, _ = models(name, dropout=0.0, double=True)
    model.train()
    ids = _ids(256, 2)
    labels = (np.random.default_rng(3).random(256) < 0.4).astype(np.float64)
    with _x64(True):
        variables = module_to_flax(model)
        loss = F.binary_cross_entropy_with_logits(model.logits(torch.as_tensor(ids, dtype=torch.long)),
                                                  torch.as_tensor(labels))
        loss.backward()
        t_grads = module_to_flax(model, {k: p.grad for k, p in model.named_parameters()})["params"]
        state = create_state(module, variables, torch_adam(), jax.random.key(0))
        j_grads = jax.grad(lambda p: loss_fn(p, state, ids, labels)[0])(state.params)
        leaves = lambda tree: [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]
        err, zero = _relative(leaves(j_grads), leaves(t_grads))
    return [Row("baselines: gradients, float64 (max relative)", name, err, 1e-5),
            Row("baselines: gradients that are 0 (pre-BN biases) ~ 0", name, zero, 1e-9)]


def check_training(name: str, train, valid, *, epochs: int = 2, batch_size: int = 256) -> list[Row]:
    """Float64, dropout 0, same init and batches: validation AUC per epoch."""
    import jax
    from sklearn.metrics import roc_auc_score
    from dcnmix.data import batches
    from dcnmix_jax.optim import torch_adam
    from dcnmix_jax.steps import create_state, predict as j_predict, train_step
    from dcnmix_torch.steps import make_optimizer, predict as t_predict, train_step as t_step
    model, module, _ = models(name, dropout=0.0, double=True)
    from .convert import module_to_flax
    with _x64(True):
        state = create_state(module, module_to_flax(model), torch_adam(1e-3), jax.random.key(0))
        opt = make_optimizer(model, lr=1e-3)
        aucs = []
        for epoch in range(epochs):
            for ids, labels in batches(train, batch_size, seed=1, epoch=epoch):
                t_step(model, opt, ids, labels.astype(np.float64))
                state, _ = train_step(state, ids, labels.astype(np.float64))
            aucs.append((roc_auc_score(valid.labels, t_predict(model, valid.ids)),
                         roc_auc_score(valid.labels, j_predict(state, valid.ids))))
    jax.clear_caches()
    detail = " ".join(f"e{e + 1}: torch {a:.8f} jax {b:.8f}" for e, (a, b) in enumerate(aucs))
    return [Row("baselines: float64 training, val AUC per epoch", name,
                max(abs(a - b) for a, b in aucs), 1e-6, detail)]


def run_baselines(train, valid, progress=lambda s: None, training: bool = True):
    for name in NAMES:
        progress(f"baselines {name}")
        yield from check_conversion_and_forward(name)
        yield from check_gradients(name)
        if training:
            yield from check_training(name, train, valid)
