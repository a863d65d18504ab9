"""Training and evaluation throughput: this project's JAX model vs PyTorch peers, one run.

    python benchmarks/throughput.py --out benchmarks/RESULTS.md [--configs seed,criteo] [--batches 256,1024,4096]

Implementations: jax (jitted step, donated state; 'jax-scan' runs S steps per dispatch with
lax.scan over device-resident batches), the twin eager, the twin under torch.compile, and
DeepCTR-Torch's DCNMix (its own train step: forward, BCE + its regularisation, backward,
Adam). Each measurement: warm-up (and compilation), then the median of >= 5 timed windows.
Also: FLOPs per example of the JAX train step from XLA's cost analysis, and the fraction of
this machine's float32 matmul rate (measured here) that it reaches.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    name: str
    field_num: int
    feat_dim: int
    emb_num: int
    r: int
    k: int
    order_num: int
    hidden_nums: tuple
    dense_num: int = 0          # dense values into x0 beside the field embeddings
    method: str = "parallel"    # the seed's: cross and DNN side by side; 'stacked': DNN on top

    def model_config(self):
        from dcnmix.config import Inputs, ModelConfig
        return ModelConfig(field_num=self.field_num, feat_dim=self.feat_dim, emb_num=self.emb_num,
                           order_num=self.order_num, r=self.r, k=self.k, dropout=0.1,
                           method=self.method, hidden_nums=self.hidden_nums, cross="mix",
                           inputs=Inputs(dense_num=self.dense_num))


CONFIGS = {
    "seed": BenchConfig("seed (10 fields, 72 ids, M=160, r=16, K=4, order 2, DNN 128-64-32)",
                        10, 72, 16, 16, 4, 2, (128, 64, 32)),
    "criteo": BenchConfig("criteo-like (39 fields, 1M ids, M=624, r=64, K=4, order 3, DNN 512-256-128)",
                          39, 1_000_000, 16, 64, 4, 3, (512, 256, 128)),
    "criteo-dense": BenchConfig("criteo-like, the paper's setup (26 fields + 13 dense values, 1M "
                                "ids, M=429, r=64, K=4, order 3, DNN 512-256-128)",
                                26, 1_000_000, 16, 64, 4, 3, (512, 256, 128), dense_num=13),
    # MLPerf Training's DLRM-DCNv2 shape (accelerator.sh): 26 embeddings of 128, three
    # low-rank cross layers of rank 512 (K=1: DCN-V2's), stacked under the top MLP
    # 1024-1024-512-256. Differences: the 13 dense values enter x0 directly (no bottom MLP
    # 512-256-128), one id per field (not multi-hot), 10M table rows (not ~190M).
    "dlrm-dcnv2": BenchConfig("DLRM-DCNv2-shaped (26 fields x 128 + 13 dense, 10M ids, M=3341, "
                              "r=512, K=1, order 3, stacked, top MLP 1024-1024-512-256)",
                              26, 10_000_000, 128, 512, 1, 3, (1024, 1024, 512, 256),
                              dense_num=13, method="stacked"),
}


def timed(run_window, windows: int = 5, min_seconds: float = 0.3) -> float:
    """Median seconds per unit over `windows` windows; run_window(n) runs n units and syncs."""
    n = 1
    while True:  # size a window to take at least min_seconds
        t = time.perf_counter()
        run_window(n)
        if time.perf_counter() - t >= min_seconds or n >= 1 << 14:
            break
        n *= 2
    samples = []
    for _ in range(windows):
        t = time.perf_counter()
        run_window(n)
        samples.append((time.perf_counter() - t) / n)
    return statistics.median(samples)


def batches_for(bc: BenchConfig, batch: int, count: int, seed: int = 0):
    """(inputs, labels [count, batch]): inputs ids [count, batch, F], or with dense values the
    typed dict (dcnmix.data.features) of such arrays."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, bc.feat_dim, (count, batch, bc.field_num)).astype(np.int32)
    labels = (rng.random((count, batch)) < 0.3).astype(np.float32)
    if bc.dense_num:
        dense = np.log1p(rng.geometric(0.05, (count, batch, bc.dense_num))).astype(np.float32)
        return {"ids": ids, "dense": dense}, labels
    return ids, labels


def _each(inputs, fn):
    """fn applied to every array of a batch (a bare array or the typed dict)."""
    return {k: fn(v) for k, v in inputs.items()} if isinstance(inputs, dict) else fn(inputs)


# ---------------------------------------------------------------- JAX
SCAN = 32  # steps per dispatch for jax-scan


def bench_jax(bc: BenchConfig, batch: int, scan: bool, embedding_optimizer: str = "dense",
              mesh=None, mixture: str = "gemm") -> dict:
    from dcnmix.config import TrainConfig
    from dcnmix_jax.trainer import JaxTrainer
    backend = JaxTrainer(bc.model_config(), TrainConfig(embedding_optimizer=embedding_optimizer,
                                                        mixture=mixture), mesh=mesh)
    put = backend.fns.put
    train_step, train_steps, predict_batch = backend.fns.step, backend.fns.resident, backend.fns.predict
    ids, labels = batches_for(bc, batch, SCAN)
    flat_ids = _each(ids, lambda v: v.reshape(-1, *v.shape[2:]))
    flat_labels = labels.reshape(-1)
    box = {"state": backend.state}
    if scan:
        ids_d, labels_d = put(flat_ids), put(flat_labels)
        index = put(np.arange(SCAN * batch, dtype=np.int32).reshape(SCAN, batch))

        def window(n):
            for _ in range(n):
                box["state"], losses = train_steps(box["state"], ids_d, labels_d, index)
            losses.block_until_ready()
        per_step = timed(window) / SCAN
    else:
        def window(n):  # the trainer's per-step path: numpy batches from the host
            for i in range(n):
                box["state"], loss = train_step(box["state"], _each(ids, lambda v: v[i % SCAN]),
                                                labels[i % SCAN])
            loss.block_until_ready()
        per_step = timed(window)
    first = _each(ids, lambda v: v[0])
    dev_ids = put(first)

    def eval_window(n):
        for _ in range(n):
            out = predict_batch(box["state"], dev_ids)
        out.block_until_ready()
    result = {"train": batch / per_step, "eval": batch / timed(eval_window)}
    if not scan:
        cost = train_step.lower(box["state"], first, labels[0]).compile().cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        result["flops_per_example"] = float(cost.get("flops", float("nan"))) / batch
    return result


def matmul_rate(n: int = 2048) -> float:
    """This machine's float32 matmul rate through XLA, FLOP/s (median of timed windows)."""
    import jax
    import jax.numpy as jnp
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()

    def window(k):
        for _ in range(k):
            out = f(a)
        out.block_until_ready()
    return 2 * n ** 3 / timed(window)


# ---------------------------------------------------------------- torch
TORCH_DEVICE = "cpu"   # --torch-device (benchmarks/accelerator.sh: cuda)


def _sync():
    import torch
    if TORCH_DEVICE.startswith("cuda"):
        torch.cuda.synchronize()


def _torch_batches(ids) -> list:
    """Each batch of `ids` (batches_for) as the twin takes it, on TORCH_DEVICE."""
    import torch
    convert = lambda v: torch.as_tensor(v, dtype=torch.long if v.dtype == np.int32 else torch.float32,
                                        device=TORCH_DEVICE)
    count = len(ids["ids"] if isinstance(ids, dict) else ids)
    return [_each(ids, lambda v: convert(v[i])) for i in range(count)]


def _torch_train_window(model, step_fn, ids, labels):
    import torch
    tid = _torch_batches(ids)
    tlab = [torch.as_tensor(y, device=TORCH_DEVICE) for y in labels]

    def window(n):
        for i in range(n):
            step_fn(tid[i % len(tid)], tlab[i % len(tid)])
        _sync()
    return window


def bench_twin(bc: BenchConfig, batch: int, compiled: bool) -> dict:
    import torch
    import torch.nn.functional as F
    from dcnmix_torch import DCN
    torch.manual_seed(0)
    model = DCN(**bc.model_config().kwargs()).to(TORCH_DEVICE)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    logits = torch.compile(model.logits) if compiled else model.logits
    ids, labels = batches_for(bc, batch, 8)

    def step(x, y):
        model.train()
        opt.zero_grad(set_to_none=True)
        loss = F.binary_cross_entropy_with_logits(logits(x), y)
        loss.backward()
        opt.step()
    train = batch / timed(_torch_train_window(model, step, ids, labels))
    return {"train": train, "eval": batch / timed(_torch_eval_window(model, logits, ids))}


def _torch_eval_window(model, fn, ids):
    import torch
    tid = _torch_batches(ids)

    def window(n):
        model.eval()
        with torch.no_grad():
            for i in range(n):
                fn(tid[i % len(tid)])
        _sync()
    return window


def bench_deepctr(bc: BenchConfig, batch: int) -> dict:
    """DeepCTR-Torch's DCNMix, matching sizes: one SparseFeat per field (ids split evenly);
    None for a config with dense values (not measured)."""
    if bc.dense_num:
        return None
    import torch
    import torch.nn.functional as F
    from deepctr_torch.inputs import SparseFeat
    from deepctr_torch.models import DCNMix
    vocab = bc.feat_dim // bc.field_num + 1
    cols = [SparseFeat(f"f{i}", vocab, embedding_dim=bc.emb_num) for i in range(bc.field_num)]
    model = DCNMix(cols, cols, cross_num=bc.order_num, dnn_hidden_units=bc.hidden_nums,
                   low_rank=bc.r, num_experts=bc.k, dnn_use_bn=True, dnn_dropout=0.1, device="cpu")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    ids, labels = batches_for(bc, batch, 8)
    xs = [torch.as_tensor(x % vocab, dtype=torch.float32) for x in ids]
    ys = [torch.as_tensor(y) for y in labels]

    def window(n):
        model.train()
        for i in range(n):
            opt.zero_grad(set_to_none=True)
            y = model(xs[i % 8]).squeeze(1)
            loss = F.binary_cross_entropy(y, ys[i % 8]) + model.get_regularization_loss()
            loss.backward()
            opt.step()

    def eval_window(n):
        model.eval()
        with torch.no_grad():
            for i in range(n):
                model(xs[i % 8])
    return {"train": batch / timed(window), "eval": batch / timed(eval_window)}


IMPLS = {
    "jax (per-step, host batches)": lambda bc, b: bench_jax(bc, b, scan=False),
    f"jax-scan ({SCAN} steps/dispatch)": lambda bc, b: bench_jax(bc, b, scan=True),
    "jax-scan, lazy embedding Adam": lambda bc, b: bench_jax(bc, b, scan=True, embedding_optimizer="lazy"),
    "twin eager (seed's code)": lambda bc, b: bench_twin(bc, b, compiled=False),
    "twin torch.compile": lambda bc, b: bench_twin(bc, b, compiled=True),
    "DeepCTR-Torch DCNMix": bench_deepctr,
    "jax, mixture vmap (per-step)": lambda bc, b: bench_jax(bc, b, scan=False, mixture="vmap"),
    "jax-scan, mixture vmap": lambda bc, b: bench_jax(bc, b, scan=True, mixture="vmap"),
    "jax-scan, mixture experts": lambda bc, b: bench_jax(bc, b, scan=True, mixture="experts"),
}


def table_scaling(batch: int = 4096, sizes=(10_000, 1_000_000, 10_000_000)) -> list[str]:
    """Step time of the seed configuration as the id space grows, dense vs lazy embedding Adam."""
    seed = CONFIGS["seed"]
    out = ["### Train step time vs embedding table size (seed config, batch 4096, jax-scan)", "",
           "| embedding optimizer | " + " | ".join(f"{n:,} ids" for n in sizes) + " | growth |",
           "| --- | " + " | ".join("---" for _ in sizes) + " | --- |"]
    for opt in ("dense", "lazy"):
        times = []
        for n in sizes:
            print(f"table scaling: {opt} {n:,}", file=sys.stderr, flush=True)
            bc = dataclasses.replace(seed, feat_dim=n)
            times.append(batch / bench_jax(bc, batch, scan=True, embedding_optimizer=opt)["train"])
        out.append(f"| {opt} | " + " | ".join(f"{t * 1e3:.1f} ms" for t in times)
                   + f" | {times[-1] / times[0]:.2f}x |")
    return out + [""]


def versions() -> str:
    import jax
    import torch
    parts = [f"python {platform.python_version()}", f"jax {jax.__version__}", f"torch {torch.__version__}"]
    try:
        import deepctr_torch
        parts.append(f"deepctr-torch {deepctr_torch.__version__}")
    except Exception:
        pass
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(l.split(":", 1)[1].strip() for l in fh if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return ", ".join(parts) + f"; CPU: {cpu} x {os.cpu_count()} cores"


def report(text: str, out: str | None) -> None:
    """Print a Markdown report and, with out, write it there too."""
    print(text)
    if out:
        with open(out, "w") as fh:
            fh.write(text + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--configs", default="seed,criteo")
    p.add_argument("--batches", default="256,1024,4096")
    p.add_argument("--impls", default=",".join(str(i) for i in range(len(IMPLS))),
                   help="indices into the implementation list (default: all)")
    p.add_argument("--out", default=None, help="write the Markdown report here")
    p.add_argument("--table-scaling", action="store_true",
                   help="also: train step time vs embedding table size (10k, 1M, 10M ids)")
    p.add_argument("--torch-device", default="cpu", help="the twin's device (cuda on a GPU)")
    args = p.parse_args(argv)
    global TORCH_DEVICE
    TORCH_DEVICE = args.torch_device
    names = [list(IMPLS)[int(i)] for i in args.impls.split(",")]
    rate = matmul_rate()
    lines = [f"Command: `python benchmarks/throughput.py {' '.join(sys.argv[1:])}`", "",
             versions(), f"Measured float32 matmul rate (XLA, 2048^3): {rate / 1e9:.1f} GFLOP/s", ""]
    for key in args.configs.split(","):
        bc = CONFIGS[key]
        lines += [f"### {bc.name}", "",
                  "| implementation | batch | train ex/s | eval ex/s | train vs twin eager |",
                  "| --- | --- | --- | --- | --- |"]
        for batch in (int(b) for b in args.batches.split(",")):
            results = {}
            for name in names:
                print(f"{key} batch {batch}: {name}", file=sys.stderr, flush=True)
                measured = IMPLS[name](bc, batch)
                if measured is not None:
                    results[name] = measured
            base = results.get("twin eager (seed's code)", {}).get("train")
            for name, r in results.items():
                ratio = f"{r['train'] / base:.2f}x" if base else "-"
                lines.append(f"| {name} | {batch} | {r['train']:,.0f} | {r['eval']:,.0f} | {ratio} |")
            jr = results.get("jax (per-step, host batches)")
            if jr and "flops_per_example" in jr:
                best = max(v["train"] for k, v in results.items() if k.startswith("jax"))
                fpe = jr["flops_per_example"]
                lines.append(f"| XLA cost analysis: {fpe / 1e6:.2f} MFLOP/example per train step; "
                             f"best JAX path at {best * fpe / 1e9:.1f} GFLOP/s = "
                             f"{best * fpe / rate:.0%} of the matmul rate | | | | |")
        lines.append("")
    if args.table_scaling:
        lines += table_scaling()
    report("\n".join(lines), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
