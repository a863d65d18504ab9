"""Serving: batch-1 latency (p50, p99) and batch-4096 throughput of every way to run a trained
model, one run; and `dcnmix predict` end to end on a generated Criteo-format file.

    python benchmarks/serving.py [--calls 5000] [--predict-file /tmp/criteo_5m.txt] [--out ...]

Paths: JAX jit (load_run), the StableHLO export reloaded with jax.export.deserialize,
onnxruntime on the ONNX export, the twin eager, the twin under torch.compile, and the seed's
own PyTorch code (shared/seeds, found through DCNMIX_SHARED) with the same weights. Models:
the seed configuration and the Criteo-like one (benchmarks/throughput.py CONFIGS), weights
from a freshly initialised run folder (serving speed does not depend on training). Latency:
--calls single-row calls after 200 warm-up calls, each synchronised; throughput: median of
timed windows (throughput.timed).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_run(bc, folder: str) -> str:
    """A run folder holding an initialised model of this config (no training)."""
    from dcnmix.config import TrainConfig
    from dcnmix.run import RunFolder
    from dcnmix_jax.trainer import JaxTrainer
    cfg = bc.model_config()
    backend = JaxTrainer(cfg, TrainConfig())
    run = RunFolder(folder)
    run.prepare()
    run.save_weights("best.safetensors", backend.arrays(), cfg)
    run.write_summary({"config": cfg.to_dict()})
    return folder


def paths(run_dir: str, work: str) -> dict:
    """name -> predict(ids int32 [b, F]) -> probabilities (synchronised)."""
    import jax
    import onnxruntime
    import torch
    from jax import export
    from dcnmix.export import export_run
    from dcnmix.inference import load_run
    jax_run, twin = load_run(run_dir), load_run(run_dir, "torch")
    export_run(run_dir, "stablehlo", os.path.join(work, "m.stablehlo"))
    export_run(run_dir, "onnx", os.path.join(work, "m.onnx"))
    hlo = export.deserialize(open(os.path.join(work, "m.stablehlo"), "rb").read())
    session = onnxruntime.InferenceSession(os.path.join(work, "m.onnx"))
    apply = jax.jit(jax_run.model.apply)
    compiled = torch.compile(twin.module)
    out = {
        "jax jit": lambda ids: np.asarray(apply(jax_run.variables, ids)),
        "stablehlo reload": lambda ids: np.asarray(hlo.call(ids)),
        "onnxruntime": lambda ids: session.run(None, {"ids": ids.astype(np.int32)})[0],
        "twin eager": _torch(twin.module),
        "twin torch.compile": _torch(compiled),
    }
    seed = _seed_model(twin)
    if seed is not None:
        out["seed's code (eager)"] = _torch(seed)
    return out


def _torch(module):
    import torch

    def run(ids):
        with torch.no_grad():
            return module(torch.as_tensor(ids, dtype=torch.long)).numpy()
    return run


def _seed_model(twin):
    """The seed article's DCN with the twin's weights (same names), or None without the file."""
    path = os.path.join(os.environ.get("DCNMIX_SHARED", "../shared"), "seeds",
                        "seed_dcn_mix_reference.py")
    cfg = twin.config
    if not os.path.exists(path) or cfg.cross != "mix" or cfg.variant.preset_name() != "seed":
        return None
    spec = importlib.util.spec_from_file_location("seed_dcn_mix_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.DCN(cfg.field_num, cfg.feat_dim, cfg.emb_num, cfg.order_num, r=cfg.r, k=cfg.k,
                       dropout=cfg.dropout, method=cfg.method, hidden_nums=cfg.hidden_nums)
    model.load_state_dict(twin.module.state_dict(), strict=True)
    return model.eval()


def latency(fn, ids, calls: int) -> tuple[float, float]:
    for i in range(200):
        fn(ids[i % len(ids)][None])
    samples = np.empty(calls)
    for i in range(calls):
        t = time.perf_counter()
        fn(ids[i % len(ids)][None])
        samples[i] = time.perf_counter() - t
    return float(np.percentile(samples, 50)) * 1e3, float(np.percentile(samples, 99)) * 1e3


def predict_end_to_end(path: str, work: str) -> str:
    """dcnmix predict on a Criteo-format file, against the model's eval throughput."""
    from dcnmix.config import TrainConfig
    from dcnmix.data.prepare import PrepareOptions, prepare
    from dcnmix.inference import load_run, predict_file
    from dcnmix.loop import train
    head = os.path.join(work, "head.txt")
    with open(path, "rb") as src, open(head, "wb") as dst:
        for i, line in enumerate(src):
            if i == 20_000:
                break
            dst.write(line)
    prepare(PrepareOptions(kind="criteo", paths=(head,)), os.path.join(work, "p"))
    _, run_dir = train({"emb_num": 8, "order_num": 2, "hidden_nums": (64, 32)},
                       f"prepared:{os.path.join(work, 'p')}", out=os.path.join(work, "run"),
                       progress=False, log=lambda *_: None, train_config=TrainConfig(epochs=1))
    run = load_run(run_dir)
    ids = np.random.default_rng(0).integers(0, run.config.feat_dim, (65536, run.config.field_num))
    ids = ids.astype(np.int32)
    run.predict(ids, batch_size=65536)                       # compile
    times = []
    for _ in range(5):
        t = time.perf_counter()
        run.predict(ids, batch_size=65536)
        times.append(time.perf_counter() - t)
    model_rate = len(ids) / float(np.median(times))
    t = time.perf_counter()
    result = predict_file(run, f"criteo:{path}", os.path.join(work, "scores.parquet"), log=lambda *_: None)
    seconds = time.perf_counter() - t
    rate = result["rows"] / seconds
    return (f"`dcnmix predict` end to end (read, encode, score, write Parquet) on {result['rows']:,} "
            f"Criteo-format rows: {seconds:.1f} s, {rate:,.0f} rows/s = {rate / model_rate:.0%} of "
            f"the model's eval throughput alone ({model_rate:,.0f} rows/s at batch 65536; model "
            f"emb 8, order 2, DNN 64-32, {run.config.feat_dim:,} ids).")


def main(argv=None) -> int:
    from throughput import CONFIGS, report, timed, versions
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--calls", type=int, default=5000)
    p.add_argument("--configs", default="seed,criteo")
    p.add_argument("--predict-file", default=None, help="a Criteo-format file for the end-to-end row")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    lines = [f"Command: `python benchmarks/serving.py {' '.join(argv or sys.argv[1:])}`", "",
             versions(), f"load average at start {os.getloadavg()[0]:.2f}", ""]
    with tempfile.TemporaryDirectory() as work:
        for key in [k for k in args.configs.split(",") if k]:
            bc = CONFIGS[key]
            run_dir = make_run(bc, os.path.join(work, key))
            ids = np.random.default_rng(1).integers(0, bc.feat_dim, (4096, bc.field_num)).astype(np.int32)
            lines += [f"### {bc.name}", "", "| path | batch-1 p50 (ms) | batch-1 p99 (ms) | "
                      "batch-4096 rows/s |", "| --- | --- | --- | --- |"]
            for name, fn in paths(run_dir, os.path.join(work, key)).items():
                print(f"{key}: {name}", file=sys.stderr, flush=True)
                p50, p99 = latency(fn, ids, args.calls)
                rate = 4096 / timed(lambda n: [fn(ids) for _ in range(n)])
                lines.append(f"| {name} | {p50:.3f} | {p99:.3f} | {rate:,.0f} |")
            lines.append("")
        if args.predict_file:
            print("predict end to end", file=sys.stderr, flush=True)
            lines += [predict_end_to_end(args.predict_file, work), ""]
    report("\n".join(lines), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
