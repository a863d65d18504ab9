"""Float64 numpy implementations of the formulas, straight from the seed's definitions."""
import numpy as np


def f64(tree):
    return {k: f64(v) if isinstance(v, dict) else np.asarray(v, np.float64) for k, v in tree.items()}


def mix_cross(p, x0, xl):
    """sum_i softmax(gate(x_l))_i * ((U_i (V_i^T x_l) + b_i) * x0) + x_l, one expert at a time."""
    logits = xl @ p["gate"]["kernel"] + p["gate"]["bias"]
    g = np.exp(logits - logits.max(1, keepdims=True))
    g /= g.sum(1, keepdims=True)
    out = xl.copy()
    for i in range(p["u"].shape[0]):
        expert = ((xl @ p["v"][i]) @ p["u"][i].T + p["b"][i]) * x0
        out += g[:, i:i + 1] * expert
    return out


def full_cross(p, x0, xl):
    return x0 * (xl @ p["kernel"] + p["bias"]) + xl


def batchnorm(p, stats, x, train, momentum=0.1, eps=1e-5):
    """Returns (y, new_stats) with torch's BatchNorm1d semantics."""
    if train:
        n = x.shape[0]
        mean, var = x.mean(0), x.var(0)
        new = {"mean": (1 - momentum) * stats["mean"] + momentum * mean,
               "var": (1 - momentum) * stats["var"] + momentum * var * n / (n - 1)}
    else:
        mean, var, new = stats["mean"], stats["var"], stats
    return (x - mean) / np.sqrt(var + eps) * p["scale"] + p["bias"], new


def dcn_logits(variables, ids, method="parallel", cross="mix", train=False):
    """Whole-model logits (dropout off) for the dcnmix_jax parameter layout."""
    p = f64(variables["params"])
    stats = f64(variables["batch_stats"])
    x0 = p["embedding"]["embedding"][np.asarray(ids)].reshape(len(ids), -1)
    xl = x0
    layer = mix_cross if cross == "mix" else full_cross
    for i in range(len(p["cross_net"])):
        xl = layer(p["cross_net"][f"layers_{i}"], x0, xl)

    def dnn(h):
        for i in range(len(stats["dnn"])):
            d = p["dnn"][f"dense_{i}"]
            h, _ = batchnorm(p["dnn"][f"bn_{i}"], stats["dnn"][f"bn_{i}"],
                             h @ d["kernel"] + d["bias"], train)
            h = np.maximum(h, 0)
        return h

    out = np.concatenate([xl, dnn(x0)], 1) if method == "parallel" else dnn(xl)
    return (out @ p["linear"]["kernel"] + p["linear"]["bias"])[:, 0]


ACTIVATIONS = {"none": lambda x: x, "relu": lambda x: np.maximum(x, 0), "tanh": np.tanh,
               "hard_tanh": lambda x: np.clip(x, -1, 1)}


def variant_cross_net(p, x0, cfg):
    """The DCN-V2 paper's mixture (Eq. 3-4) with every variant option, one expert at a time:
    E_i = x0 * (U_i g(C_i g(V_i^T x_l)) + b),  x_{l+1} = sum_i w_i(x_l) E_i + x_l,
    for a dcnmix_jax CrossNet's params p (float64)."""
    opt = cfg.variant
    g = ACTIVATIONS[opt.activation]
    xl = x0
    for layer in range(cfg.order_num):
        q = p[f"layers_{layer}"]
        gate = p["gate"] if opt.shared_gates else q.get("gate")
        if opt.gate == "constant":
            w = np.full((len(x0), cfg.k), 1.0 / cfg.k)
        else:
            z = xl @ gate["kernel"] + (gate["bias"] if opt.gate_bias else 0.0)
            if opt.gate == "softmax":
                w = np.exp(z - z.max(1, keepdims=True))
                w /= w.sum(1, keepdims=True)
            else:
                w = 1 / (1 + np.exp(-z))
        out = xl.copy()
        for i in range(cfg.k):
            h = xl @ q["v"][i]                                   # V_i^T x_l, [B, r]
            if opt.c_matrix:
                h = g(h) @ q["c"][i].T                           # C_i g(.)
            h = g(h)
            b = q["b"][i] if opt.expert_bias else q["bias"]
            out += w[:, i:i + 1] * (x0 * (h @ q["u"][i].T + b))
        xl = out
    return xl
