"""The pieces of a model's weights layout: one Entry per torch tensor, and the helpers the
declarations build them with (a torch Linear, a BatchNorm1d). numpy-free, framework-free."""
from __future__ import annotations

import dataclasses

# dcnmix_torch's DNN is one nn.Sequential of (Linear, BatchNorm1d, ReLU, Dropout) per hidden
# layer: hidden layer i's Linear is dnn.mlp.{DNN_STRIDE * i}, its BatchNorm the next index.
DNN_STRIDE = 4


@dataclasses.dataclass(frozen=True)
class Entry:
    """torch_key <-> flax path; `transform`: 'copy', 'transpose' (torch [out, in] vs flax
    [in, out]), 'column' (torch [M, 1] vs flax [M]); `expert`: index into a stacked leaf."""

    torch_key: str
    path: tuple[str, ...]
    torch_shape: tuple[int, ...]
    transform: str = "copy"
    expert: int | None = None


def dense(torch_prefix: str, path: tuple[str, ...], fan_in: int, fan_out: int,
          bias: bool = True) -> list[Entry]:
    """A torch Linear(fan_in, fan_out) <-> dcnmix_jax TorchDense at `path` (under params)."""
    out = [Entry(f"{torch_prefix}.weight", path + ("kernel",), (fan_out, fan_in), "transpose")]
    if bias:
        out.append(Entry(f"{torch_prefix}.bias", path + ("bias",), (fan_out,)))
    return out


def table(torch_prefix: str, path: tuple[str, ...], cfg, width: int) -> list[Entry]:
    """The input layer (dcnmix_*.inputs.FieldEmbedding) at `path`: its table [feat_dim,
    width] and, with embedded dense values, their vectors [dense_num, width]."""
    out = [Entry(f"{torch_prefix}.weight", path + ("embedding",), (cfg.feat_dim, width))]
    if cfg.inputs.dense_embedding and cfg.inputs.dense_num:
        out.append(Entry(f"{torch_prefix}.dense", path + ("dense",), (cfg.inputs.dense_num, width)))
    return out


def batch_norm(torch_prefix: str, path: tuple[str, ...], width: int) -> list[Entry]:
    """torch BatchNorm1d <-> dcnmix_jax TorchBatchNorm: scale and bias in params, the
    running statistics in batch_stats."""
    p, s = ("params",) + path, ("batch_stats",) + path
    return [Entry(f"{torch_prefix}.weight", p + ("scale",), (width,)),
            Entry(f"{torch_prefix}.bias", p + ("bias",), (width,)),
            Entry(f"{torch_prefix}.running_mean", s + ("mean",), (width,)),
            Entry(f"{torch_prefix}.running_var", s + ("var",), (width,)),
            Entry(f"{torch_prefix}.num_batches_tracked", s + ("count",), ())]


def tower(prefix: str, width: int, hidden_nums, batch_norm_on: bool,
          output: bool = True) -> list[Entry]:
    """The baselines' Tower (dcnmix_*.baselines.Tower) under `prefix`: (Linear, [BatchNorm])
    per hidden size, then (output) Linear -> 1."""
    out = []
    for i, h in enumerate(hidden_nums):
        out += dense(f"{prefix}.dense_{i}", ("params", prefix, f"dense_{i}"), width, h)
        if batch_norm_on:
            out += batch_norm(f"{prefix}.bn_{i}", (prefix, f"bn_{i}"), h)
        width = h
    return out + dense(f"{prefix}.out", ("params", prefix, "out"), width, 1) if output else out
