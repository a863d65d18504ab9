"""Time to quality, end to end: wall seconds from a fresh process reading the raw Frappe files
to a test AUC >= --target, for four implementations of the same model and recipe.

    python benchmarks/time_to_auc.py --repeats 3 --out benchmarks/results/time_to_auc.md

Implementations (each in its own fresh process, so imports, parsing and compilation count):
  jax       this project: JaxTrainer (lax.scan chunks, device-resident data), with an empty
            persistent compilation cache (a first run on a machine: everything compiles)
  jax-warm  the same, its cache filled by the jax run just before it (every later run)
  twin      this project's PyTorch twin: TorchTrainer (eager)
  seed      the seed article's own DCN class (../shared/seeds) in a plain PyTorch loop
            (TensorDataset + DataLoader(shuffle=True), torch Adam, BCELoss on its sigmoid
            output); the article gives no loop, this is the one its code implies
  deepctr   DeepCTR-Torch's DCNMix through its own `fit` / `predict` (one SparseFeat per
            field, l2_reg_embedding = the embedding weight decay / 2, its other L2 terms 0)

The recipe is the quality configuration of docs/results.md without lr decay: DCN-Mix parallel,
3 cross layers, r 16, K 4, embeddings 10, DNN 400-400-400 with BatchNorm, dropout 0.2, batch
4096, Adam lr 1e-3, embedding weight decay 0.05. Every implementation parses the libfm files
with the same loader (dcnmix.data.load_frappe), so the figure compares the training stacks.
After each epoch the test AUC is computed (its time counts); the run stops at the target or
after --max-epochs. Repeats are interleaved (jax, twin, seed, deepctr, jax, ...); the table
gives the median over repeats.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import shutil
import subprocess
import sys
import tempfile
import time

T0 = time.time()   # the process's start, as near as Python lets us see it
LOAD = os.getloadavg()[0]
PHASES = {}        # seconds since T0 when a phase ended (the worker's report)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

RECIPE = dict(emb_num=10, order_num=3, r=16, k=4, dropout=0.2, hidden_nums=(400, 400, 400),
              method="parallel", batch_size=4096, lr=1e-3, emb_weight_decay=0.05)
IMPLS = ("jax", "jax-warm", "twin", "seed", "deepctr")


def frappe_dir() -> str:
    return os.path.join(os.environ.get("DCNMIX_SHARED", os.path.join(ROOT, "..", "shared")),
                        "data", "frappe")


def auc(labels, probs) -> float:
    from sklearn.metrics import roc_auc_score
    return float(roc_auc_score(labels, probs))


# ---------------------------------------------------------------- workers: one epoch at a time
def epochs_dcnmix(framework: str, splits, seed: int, cache: str | None = None):
    """This project's trainer loop pieces (the JAX backend or the twin); `cache`: the
    compilation cache folder (as `dcnmix train` keeps one)."""
    from dcnmix.config import ModelConfig, TrainConfig
    from dcnmix.loop import evaluate, make_trainer, train_epoch, use_compilation_cache
    use_compilation_cache(framework, cache or "off")
    train, _, test = splits
    cfg = ModelConfig.create(field_num=train.field_num, feat_dim=train.feat_dim, cross="mix",
                             **{k: RECIPE[k] for k in ("emb_num", "order_num", "r", "k", "dropout",
                                                       "hidden_nums", "method")})
    tc = TrainConfig(batch_size=RECIPE["batch_size"], lr=RECIPE["lr"], seed=seed,
                     emb_weight_decay=RECIPE["emb_weight_decay"])
    backend = make_trainer(framework, cfg, tc)
    PHASES["built"] = round(time.time() - T0, 2)
    epoch = 0
    while True:
        train_epoch(backend, train, tc, epoch, progress=False, last_good="")
        epoch += 1
        yield evaluate(backend, test)["auc"]


def epochs_seed(splits, seed: int):
    import importlib.util
    import torch
    train, _, test = splits
    path = os.path.join(os.path.dirname(frappe_dir()), "..", "seeds", "seed_dcn_mix_reference.py")
    spec = importlib.util.spec_from_file_location("seed_dcn_mix_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(seed)
    model = module.DCN(train.field_num, train.feat_dim, RECIPE["emb_num"], RECIPE["order_num"],
                       r=RECIPE["r"], k=RECIPE["k"], dropout=RECIPE["dropout"],
                       method=RECIPE["method"], hidden_nums=RECIPE["hidden_nums"])
    emb = [p for n, p in model.named_parameters() if n.startswith("embedding.")]
    rest = [p for n, p in model.named_parameters() if not n.startswith("embedding.")]
    opt = torch.optim.Adam([{"params": emb, "weight_decay": RECIPE["emb_weight_decay"]},
                            {"params": rest}], lr=RECIPE["lr"])
    data = torch.utils.data.TensorDataset(torch.as_tensor(train.ids, dtype=torch.long),
                                          torch.as_tensor(train.labels))
    loader = torch.utils.data.DataLoader(data, batch_size=RECIPE["batch_size"], shuffle=True)
    loss_fn = torch.nn.BCELoss()
    test_ids = torch.as_tensor(test.ids, dtype=torch.long)
    while True:
        model.train()
        for x, y in loader:
            if len(x) < 2:          # BatchNorm cannot train on one row
                continue
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            probs = torch.cat([model(test_ids[i:i + 8192]) for i in range(0, len(test_ids), 8192)])
        yield auc(test.labels, probs.numpy())


def epochs_deepctr(splits, seed: int):
    import numpy as np
    import torch
    from deepctr_torch.inputs import SparseFeat
    from deepctr_torch.models import DCNMix
    train, _, test = splits
    low = np.minimum(train.ids.min(0), test.ids.min(0))
    high = np.maximum(train.ids.max(0), test.ids.max(0))
    names = [f"f{i}" for i in range(train.field_num)]
    cols = [SparseFeat(n, int(high[i] - low[i] + 1), embedding_dim=RECIPE["emb_num"])
            for i, n in enumerate(names)]
    torch.manual_seed(seed)
    model = DCNMix(cols, cols, cross_num=RECIPE["order_num"], low_rank=RECIPE["r"],
                   num_experts=RECIPE["k"], dnn_hidden_units=RECIPE["hidden_nums"],
                   dnn_use_bn=True, dnn_dropout=RECIPE["dropout"],
                   l2_reg_embedding=RECIPE["emb_weight_decay"] / 2, l2_reg_linear=0,
                   l2_reg_cross=0, l2_reg_dnn=0, seed=seed, device="cpu")
    model.compile(torch.optim.Adam(model.parameters(), lr=RECIPE["lr"]), "binary_crossentropy")

    def inputs(d):
        return {n: d.ids[:, i] - low[i] for i, n in enumerate(names)}
    x_train, x_test = inputs(train), inputs(test)
    while True:
        model.fit(x_train, train.labels, batch_size=RECIPE["batch_size"], epochs=1, verbose=0)
        yield auc(test.labels, model.predict(x_test, batch_size=8192).ravel())


def worker(impl: str, seed: int, target: float, max_epochs: int, cache: str) -> dict:
    from dcnmix.data import load_frappe
    splits = load_frappe(frappe_dir())
    loaded = time.time() - T0
    epochs = {"jax": lambda: epochs_dcnmix("jax", splits, seed, cache),
              "jax-warm": lambda: epochs_dcnmix("jax", splits, seed, cache),
              "twin": lambda: epochs_dcnmix("torch", splits, seed),
              "seed": lambda: epochs_seed(splits, seed),
              "deepctr": lambda: epochs_deepctr(splits, seed)}[impl]()
    history = []
    for epoch, test_auc in zip(range(1, max_epochs + 1), epochs):
        history.append((epoch, round(time.time() - T0, 2), round(test_auc, 5)))
        if test_auc >= target:
            break
    reached = history[-1][2] >= target
    return {"impl": impl, "seed": seed, "reached": reached, "seconds": history[-1][1],
            "epochs": history[-1][0], "load_seconds": round(loaded, 2), **PHASES,
            "history": history}


# ---------------------------------------------------------------- driver
def run_one(impl: str, seed: int, target: float, max_epochs: int, cache: str) -> dict:
    if impl == "jax":                       # a cold cache: what a first run on a machine finds
        shutil.rmtree(cache, ignore_errors=True)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", impl, "--seed", str(seed),
           "--target", str(target), "--max-epochs", str(max_epochs), "--cache", cache]
    t = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.time() - t
    if done.returncode != 0:
        raise SystemExit(f"{impl} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = round(wall, 2)
    print(json.dumps(result), flush=True)
    return result


def table(results: list[dict], target: float, command: str) -> str:
    rows = ["| implementation | reached | median wall s to test AUC >= "
            f"{target} | epochs | s per run | vs jax |", "| --- | --- | --- | --- | --- | --- |"]
    medians = {}
    for impl in IMPLS:
        mine = [r for r in results if r["impl"] == impl]
        if not mine:
            continue
        medians[impl] = statistics.median(r["process_seconds"] for r in mine)
    speedup = [f"the seed's code takes {medians['seed'] / medians[j]:.2f}x the time of {j}"
               for j in ("jax", "jax-warm") if j in medians and "seed" in medians]
    for impl, med in medians.items():
        mine = [r for r in results if r["impl"] == impl]
        rows.append(f"| {impl} | {sum(r['reached'] for r in mine)}/{len(mine)} | {med:.1f} | "
                    + "/".join(str(r["epochs"]) for r in mine) + " | "
                    + "/".join(f"{r['process_seconds']:.0f}" for r in mine)
                    + f" | {med / medians.get('jax', med):.2f}x |")
    return "\n".join([f"Command: `{command}`", "", f"load average at the start {LOAD:.2f}", "", *rows, "",
                      "Wall seconds of the whole process (start, parse, build, train, test AUC "
                      "after every epoch), median over repeats; 'vs jax' is that median over "
                      "jax's.", "", "; ".join(speedup) + "." if speedup else ""])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--impls", default=",".join(IMPLS))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--target", type=float, default=0.980)
    p.add_argument("--max-epochs", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--worker", choices=IMPLS)
    p.add_argument("--cache", default=None, help=argparse.SUPPRESS)
    p.add_argument("--out")
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.seed, args.target, args.max_epochs, args.cache)))
        return 0
    cache = os.path.join(tempfile.mkdtemp(prefix="time-to-auc-"), "compiled")
    print(f"uptime: {os.getloadavg()}", file=sys.stderr)
    results = [run_one(impl, args.seed + r, args.target, args.max_epochs, cache)
               for r in range(args.repeats) for impl in args.impls.split(",")]
    text = table(results, args.target, "python benchmarks/time_to_auc.py "
                 + " ".join(argv if argv is not None else sys.argv[1:]))
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n\n<details><summary>runs</summary>\n\n```\n"
                     + "\n".join(json.dumps(r) for r in results) + "\n```\n</details>\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
