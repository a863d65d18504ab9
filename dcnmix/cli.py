"""The `dcnmix` command: train, prepare, predict, export, svd, runs, plot, sweep, tune, convert, parity. A thin layer over the Python API.

    dcnmix train [--dataset SPEC] [--framework jax|torch] [--model dcn|fm|...|dnn|crossnet]
                 [model, variant, training flags]
    dcnmix prepare SPEC --out DIR [split and column options]
    dcnmix predict RUN_DIR --data SPEC [--out FILE.parquet|.csv] [--framework jax|torch]
    dcnmix export RUN_DIR --format stablehlo|onnx --out FILE
    dcnmix svd RUN_DIR [--layer L]
    dcnmix runs PATH... [--sort test_auc] [--format table|csv|json|md]
    dcnmix plot RUN... --out FILE.png
    dcnmix sweep --grid KEY=V,V ... --out DIR [--seeds N] [--frameworks jax,torch] [train flags]
    dcnmix tune --dataset SPEC --budget-minutes N --out DIR [--space FILE] [train flags]
    dcnmix convert IN OUT --to jax|torch         (parity's converter, a plug-in)
    dcnmix parity [--quick]                      (parity's checks, a plug-in)

The model, variant and training flags are made from the fields of dcnmix.config's
dataclasses (names, defaults, choices and help), so they are never restated here. Backends
(dcnmix.backends) and the plug-in subcommands are found by name through package entry
points, and imported only once a command needs one. Mistakes are one line on stderr and
exit 2.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from . import backends
from .config import (MODELS, OPTIONS, PRESETS, RECIPES, VARIANT_FIELDS, ConfigError, Inputs, ModelConfig,
                     TrainConfig, Variant, model_defaults)
from .data.options import DATA_FIELDS, DataOptions
from .flags import Formatter, Parser, add_fields, byte_size, csv_list, flag, one_line, positive_int

# ModelConfig fields that are not flags: the data gives the shape; the variant and the typed
# inputs have their own
NOT_FLAGS = ("field_num", "feat_dim", "variant", "inputs")


def add_cache_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--compilation-cache", default="default", metavar="DIR|off",
                   help="keep compiled programs here for later runs (default: "
                        "$DCNMIX_COMPILATION_CACHE, else ~/.cache/dcnmix/compiled/FRAMEWORK); "
                        "off: compile afresh (docs/speed.md)")


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="synthetic",
                   help="synthetic | frappe[:DIR] | criteo:PATH | csv:PATH | parquet:PATH | "
                        "libfm:PATH | prepared:DIR (criteo, csv and parquet are prepared once "
                        "and cached; docs/data.md)")
    p.add_argument("--framework", choices=backends.names(), default="jax",
                   help="the backend (dcnmix.backends)")
    p.add_argument("--out", default="runs/latest", help="the run folder")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run an existing OUT holds (without it, such a folder is refused)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="CPU threads for either framework (default: the framework's own choice)")
    add_cache_argument(p)
    p.add_argument("--device-data-budget", type=byte_size, default=None, metavar="BYTES",
                   help="training data kept on the device (e.g. 2G, 500M); a larger split streams "
                        "from the host (default: a quarter of the device's memory)")
    add_fields(p.add_argument_group("model (the seed's DCN arguments; a baseline's options "
                                    "default to its seed preset, docs/baselines.md)"),
               ModelConfig, skip=NOT_FLAGS, default_text=_model_default_text)
    v = p.add_argument_group("DCN-Mix variant: a preset, then single options over it "
                             "(docs/variants.md)")
    v.add_argument("--preset", choices=tuple(PRESETS), default="seed")
    add_fields(v, Variant, default_none=True)
    t = p.add_argument_group("training (docs/training.md)")
    t.add_argument("--recipe", choices=tuple(RECIPES), default="seed",
                   help="a named set of training options under the flags given: the seed's "
                        "defaults, or 'recommended' (embedding L2 0.05, lr decay 0.1, patience "
                        "3; measured in docs/experiments.md)")
    add_fields(t, TrainConfig, skip=RECIPE_FIELDS)
    add_fields(t, TrainConfig, skip=tuple(n for n in TRAIN_FIELDS if n not in RECIPE_FIELDS),
               default_text=_recipe_default_text)
    so = p.add_argument_group("scale-out (jax; docs/scale-out.md)")
    so.add_argument("--mesh", default=None,
                    help="DATAxMODEL devices, e.g. 4x2: batches split over DATA, the embedding "
                         "table row-sharded over MODEL (default: one device)")
    so.add_argument("--coordinator", default=None,
                    help="HOST:PORT of process 0 for jax.distributed.initialize (multi-process); "
                         "'auto' lets JAX detect the cluster (TPU pods, SLURM)")
    so.add_argument("--num-processes", type=positive_int, default=None, help="processes in all")
    so.add_argument("--process-id", type=int, default=None, help="this process's index")
    lg = p.add_argument_group("logging (docs/experiments.md)")
    lg.add_argument("--log-every", type=int, default=0, metavar="N",
                    help="also record the mean training loss of every N steps (metrics.jsonl "
                         "step lines; TensorBoard train/step_loss); 0: per epoch only")
    lg.add_argument("--tensorboard", default=None, metavar="DIR",
                    help="write TensorBoard event files here (pip install 'dcnmix[tensorboard]')")
    d = p.add_argument_group("data: criteo, csv and parquet columns, types, split (docs/data.md)")
    d.add_argument("--synthetic-rows", type=positive_int, default=100_000, help="synthetic: rows")
    add_fields(d, DataOptions)
    t = p.add_argument_group("typed inputs: how the model takes dense and multi-valued fields")
    add_fields(t, Inputs, skip=("dense_num", "multi_num"), default_none=True)


def data_options(args) -> dict:
    """The DataOptions fields from the flags (one definition for prepare and train)."""
    out = {name: getattr(args, name) for name in DATA_FIELDS}
    out["buckets"] = tuple(out["buckets"] or ())
    return out


def _model_default_text(name: str) -> str:
    """A model flag's default for each model that has the option, e.g. 'dcn 16, fm 4, ...'."""
    if name == "model":
        return "dcn"
    values = {}
    for model in (m for m in MODELS if name in OPTIONS[m]):
        value = ModelConfig.create(field_num=1, feat_dim=1, model=model,
                                   **model_defaults(model)).to_dict()[name]
        values[model] = ",".join(map(str, value)) if isinstance(value, tuple) else value
    if len(set(map(str, values.values()))) == 1:
        return f"{next(iter(values.values()))}" + ("" if len(values) == len(MODELS)
                                                  else f" ({', '.join(values)})")
    return ", ".join(f"{m} {v}" for m, v in values.items())


def model_options(args) -> dict:
    """ModelConfig fields from the flags (field_num and feat_dim come from the data): the
    model's defaults (model_defaults) under the flags given; validated now, before any data
    is read. A DCN's variant options given to a baseline are refused, naming the flag."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(ModelConfig)
             if f.name not in NOT_FLAGS and hasattr(args, f.name)}
    model = given.get("model", "dcn")
    options = {**model_defaults(model), **given}
    options.update({f: getattr(args, f) for f in ("pooling", "dense_embedding")
                    if getattr(args, f, None) is not None})
    variant_flags = {f: getattr(args, f) for f in VARIANT_FIELDS if getattr(args, f) is not None}
    if model != "dcn":
        dcn_only = ["preset"] * (args.preset != "seed") + list(variant_flags)
        if dcn_only:
            raise ConfigError(dcn_only[0], f"a DCN-Mix option, not one of model {model}")
    else:
        options["variant"] = Variant.preset(args.preset).replace(**variant_flags)
    ModelConfig.create(field_num=1, feat_dim=1, **options)
    return options


# the training options a recipe sets: their flags are absent from the parsed args unless given
TRAIN_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig))
RECIPE_FIELDS = tuple(sorted({k for r in RECIPES.values() for k in r}))


def _recipe_default_text(name: str) -> str:
    values = {r: getattr(TrainConfig.recipe(r), name) for r in RECIPES}
    return ", ".join(f"{r} {'none' if v is None else v}" for r, v in values.items())


def train_config(args) -> TrainConfig:
    """The TrainConfig of the flags: the --recipe's options, the flags given over them."""
    return TrainConfig.recipe(getattr(args, "recipe", "seed"),
                              **{n: getattr(args, n) for n in TRAIN_FIELDS if hasattr(args, n)})


def data_spec(args):
    from .data import DataSpec
    return DataSpec(spec=args.dataset, synthetic_rows=args.synthetic_rows, **data_options(args))


def run_train(args, framework: str | None = None) -> int:
    from .loop import set_threads, train
    framework = framework or args.framework
    tc, options = train_config(args), model_options(args)
    backends.check_supported(framework, ModelConfig.create(field_num=1, feat_dim=1, **options),
                             tc, mesh=args.mesh is not None or args.coordinator is not None)
    if args.threads is not None:
        set_threads(framework, args.threads)      # before _scale_out may start jax
    mesh, out = _scale_out(args, framework)
    summary, out = train(options, data_spec(args), out=out, framework=framework, train_config=tc,
                         resume=args.resume, overwrite=args.overwrite,
                         progress=not args.no_progress, mesh=mesh, data_budget=args.device_data_budget,
                         compilation_cache=args.compilation_cache, hooks=hooks(args, out),
                         log_every=args.log_every)
    print(f"best epoch {summary['best_epoch']}: val AUC {summary['val_auc']:.5f}; "
          f"test AUC {summary['test_auc']:.5f}, test logloss {summary['test_logloss']:.5f}; "
          f"{summary['params']:,} parameters; {summary['train_examples_per_s']:,.0f} train ex/s "
          f"-> {out}/summary.json")
    return 0


def check_logging(args) -> None:
    """--log-every and --tensorboard (its extra installed), checked before any data is read."""
    from .tracking import need
    if args.log_every < 0:
        raise ConfigError("log_every", f"--log-every must be >= 0, got {args.log_every}")
    if args.tensorboard is not None:
        need("tensorboardX", extra="tensorboard", purpose="--tensorboard")


def hooks(args, out: str) -> list:
    """The run's observers from the logging flags (dcnmix.tracking), checked."""
    from .tracking import TensorBoard
    check_logging(args)
    if args.tensorboard is None:
        return []
    process = os.path.relpath(out, args.out)  # process i > 0 of a scale-out run: its own folder
    return [TensorBoard(args.tensorboard if process == "." else os.path.join(args.tensorboard,
                                                                             process))]


def _scale_out(args, framework: str):
    """(mesh or None, output folder of this process) from --mesh / --coordinator.

    Every process trains the same global model on its shards; process 0 writes --out, process
    i > 0 its own copy under OUT/process-i (so each host can resume without a shared disk)."""
    if args.coordinator is None and args.mesh is None:
        return None, args.out
    mesh, index, line = backends.get(framework).scale_out(
        mesh=args.mesh, coordinator=args.coordinator, num_processes=args.num_processes,
        process_id=args.process_id)
    print(line, flush=True)
    return mesh, args.out if index == 0 else os.path.join(args.out, f"process-{index}")


def add_prepare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="?", default=None,
                   help="criteo:PATH | csv:PATH | parquet:PATH | libfm:PATH | frappe[:DIR], "
                        "or just the kind (criteo, csv, ...) with --train/--valid/--test")
    p.add_argument("--out", default=None, help="the prepared folder (replaced when complete; only "
                                               "an empty or prepared folder is replaced)")
    p.add_argument("--check", default=None, metavar="DIR",
                   help="verify a prepared folder instead: every array's size and sha256 against "
                        "its feature map")
    e = p.add_argument_group("engine and output (docs/data.md \"Spark\", \"Sharded folders\")")
    e.add_argument("--engine", default="polars", choices=("polars", "spark"),
                   help="polars: this process (default); spark: pyspark, local[*] or --spark-master "
                        "(pip install 'dcnmix[spark]')")
    e.add_argument("--shards", type=int, default=None, metavar="N",
                   help="write each split as N shards with a manifest (spark: about N; default "
                        "one per input partition); polars default: one file per split")
    e.add_argument("--spark-master", default=None, metavar="URL",
                   help="the Spark master (local[2], spark://host:7077, yarn); default local[*]")
    s = p.add_argument_group("split (default: a seeded random 80/10/10 split)")
    for name in ("train", "valid", "test"):
        s.add_argument(f"--{name}", default=None, help=f"the {name} file (all three, or none)")
    add_fields(p.add_argument_group("data: columns, types, split, encoding (docs/data.md)"),
               DataOptions)


def run_prepare(args) -> int:
    from .data.prepare import PrepareOptions, prepare, report
    from .data.specs import default_frappe_dir
    if args.check is not None:
        return _check_prepared(args)
    if args.spec is None or args.out is None:
        raise ValueError("prepare needs a SPEC and --out DIR (or --check DIR)")
    kind, _, path = args.spec.partition(":")
    files = tuple(f for f in (args.train, args.valid, args.test) if f)
    if files and (len(files) != 3 or path):
        raise ValueError("--train, --valid and --test come together, and replace the spec's PATH "
                         f"(give {kind}, not {args.spec})")
    if kind == "frappe":
        path = path or default_frappe_dir()
    elif not files and not path:
        raise ValueError(f"{args.spec}: give a file ({kind}:PATH) or --train/--valid/--test")
    opt = PrepareOptions(kind=kind, paths=files or (path,), **data_options(args))
    command = "dcnmix prepare " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["prepare"] else None
    if args.spark_master and args.engine != "spark":
        raise ValueError("--spark-master goes with --engine spark")
    fmap = prepare(opt, args.out, command=command, log=_status, engine=args.engine,
                   shards=args.shards, spark_master=args.spark_master)
    print(file=sys.stderr)
    _Line.open = False
    print(report(fmap))
    print(f"-> {os.path.join(args.out, 'feature_map.json')} ({fmap.info.get('seconds', 0):.1f} s)")
    return 0


def _check_prepared(args) -> int:
    from .data.prepared import check_prepared
    if args.spec is not None or args.out is not None:
        raise ValueError("--check DIR takes no SPEC and no --out")
    from .data.shards import load_manifest
    fmap = check_prepared(args.check)
    rows = fmap.info.get("rows", {})
    manifest = load_manifest(args.check)
    recorded = fmap.info.get("files")
    if manifest is not None:
        parts = {s: len(v) for s, v in manifest["splits"].items()}
        files = sum(len(shard["files"]) for v in manifest["splits"].values() for shard in v)
        print(f"{args.check}: ok, {files} shard files match their sha256 "
              f"({', '.join(f'{k} {rows.get(k, 0):,} rows in {n} shards' for k, n in parts.items())}; "
              f"written by the {manifest.get('engine')} engine)")
    elif recorded is None:
        print(f"{args.check}: written before prepared folders carried checksums; its shapes are "
              "checked when it is opened")
    else:
        print(f"{args.check}: ok, {len(recorded)} files match their sha256 "
              f"({', '.join(f'{k} {v:,}' for k, v in rows.items())} rows)")
    return 0


class _Line:
    open = False          # a progress line is on stderr without its newline


def _status(text: str) -> None:
    """One progress line on stderr, rewritten in place."""
    print(f"\r{text}", end="", file=sys.stderr, flush=True)
    _Line.open = True


def _error(text: str) -> None:
    """An error line on stderr, below a progress line left open."""
    print(("\n" if _Line.open else "") + f"error: {text}", file=sys.stderr)
    _Line.open = False


def add_predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run folder written by `dcnmix train`")
    p.add_argument("--data", required=True, help="criteo:PATH | csv:PATH | parquet:PATH (raw rows, "
                                                 "encoded with the run's feature map)")
    p.add_argument("--out", default=None, help="FILE.parquet or FILE.csv: one probability per "
                                               "input row, in input order")
    p.add_argument("--framework", choices=backends.names(), default="jax")
    p.add_argument("--batch-size", type=positive_int, default=65536, help="rows per forward pass")
    add_cache_argument(p)
    p.add_argument("--keep", default=None, help="a column of the input copied beside each "
                                                "probability (a key)")
    p.add_argument("--warn-oov", type=float, default=0.05, metavar="SHARE",
                   help="warn about fields whose rows (elements, multi-valued) got the "
                        "out-of-vocabulary or missing id more often than this")


def run_predict(args) -> int:
    from .inference import load_run, predict_file
    from .loop import use_compilation_cache
    use_compilation_cache(args.framework, args.compilation_cache,
                          log=lambda line: print(line, file=sys.stderr))
    run = load_run(args.run_dir, framework=args.framework)
    result = predict_file(run, args.data, args.out, batch_size=args.batch_size, keep=args.keep,
                          log=_status)
    print(file=sys.stderr)
    _Line.open = False
    for name, share in result["shares"].items():
        for what in ("oov", "missing"):
            if share[what] > args.warn_oov:
                label = "out of vocabulary" if what == "oov" else "missing"
                print(f"warning: field {name}: {share[what]:.1%} {label} (--warn-oov "
                      f"{args.warn_oov:g})", file=sys.stderr)
    if "labels_refused" in result:
        print(f"warning: labels not scored (no AUC): {result['labels_refused']}", file=sys.stderr)
    line = f"{result['rows']:,} rows scored"
    if "auc" in result:
        line += f"; AUC {result['auc']:.5f}, logloss {result['logloss']:.5f}"
    print(line + (f" -> {args.out}" if args.out else ""))
    if args.out:
        from .weights import write_json
        write_json(args.out + ".metrics.json", {**result, "data": args.data, "run": args.run_dir,
                                               "framework": args.framework})
    return 0


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    from .export import formats
    p.add_argument("run_dir", help="a run folder written by `dcnmix train`")
    p.add_argument("--format", choices=tuple(formats()), required=True,
                   help="; ".join(f"{fmt} ({name} backend)" for fmt, name in formats().items()))
    p.add_argument("--out", required=True, help="the exported file (the feature map is copied "
                                                "beside it)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a feature_map.json beside --out that another run's export left")
    p.add_argument("--platforms", type=csv_list, default=None, metavar="P,P",
                   help="stablehlo: compile for these platforms (cpu, cuda, rocm, tpu; default: "
                        "this machine's)")


def run_export(args) -> int:
    from .export import export_run
    info = export_run(args.run_dir, args.format, args.out, platforms=args.platforms,
                      overwrite=args.overwrite)
    print(f"wrote {info['file']} ({info['format']}, input {info['input']}"
          + (f", opset {info['opset']}" if "opset" in info else "") + ")"
          + (f"; feature map {info['feature_map']}" if "feature_map" in info else ""))
    return 0


def add_svd_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run folder written by `dcnmix train`")
    p.add_argument("--dataset", default=None,
                   help="spec of the rows for the mean gates (default: the run's own data, "
                        "from its summary.json)")
    p.add_argument("--layer", type=int, default=0, help="cross layer")
    p.add_argument("--rows", type=positive_int, default=5000, help="validation rows for the mean gate")


def run_svd(args) -> int:
    from .data import DataSpec
    from .run import RunError, RunFolder
    from .svd import run_curves, write_report
    if args.dataset is not None:
        spec = DataSpec(spec=args.dataset)
    else:
        folder = RunFolder(args.run_dir)
        recorded = folder.read_summary().get("data")
        try:
            spec = DataSpec.for_run(recorded, args.run_dir) if recorded else None
        except (TypeError, ValueError, AttributeError) as exc:
            raise RunError(f"{folder.path('summary.json')}: its data record is not one dcnmix "
                           f"reads ({type(exc).__name__}: {exc}); give --dataset") from None
    ids = spec.load()[1].ids[: args.rows] if spec is not None else None
    curves, cfg = run_curves(args.run_dir, ids, args.layer)
    write_report(args.run_dir, curves, cfg, args.layer)
    print(f"wrote {args.run_dir}/svd.csv and svd.png")
    return 0


# the experiment commands (docs/experiments.md): name -> (module of dcnmix.experiments with
# add_arguments(parser) and run(args), help)
EXPERIMENT_COMMANDS = {
    "runs": ("runs", "a table of run folders: model, options, best epoch, AUC, logloss, status"),
    "plot": ("plot", "training loss and validation AUC / logloss per epoch of runs, as a PNG"),
    "sweep": ("sweep", "train a grid of options (the seed's order x structure grid), each cell "
                       "a run folder; resumable"),
    "tune": ("tune", "search the options within a time budget (optuna), by validation AUC; "
                     "resumable"),
}


def experiment(name: str):
    """The module of dcnmix.experiments behind the command `name`."""
    import importlib
    return importlib.import_module(f"dcnmix.experiments.{EXPERIMENT_COMMANDS[name][0]}")


PLUGIN_HELP = {"convert": "convert a weights file between the frameworks (dcnmix convert -h "
                          "for its options)",
               "parity": "run the JAX <-> PyTorch parity checks (--quick: a subset)"}


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="dcnmix", description=__doc__.split("\n")[0],
                                formatter_class=Formatter, allow_abbrev=False)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_train_arguments(sub.add_parser("train", help="train a model: DCN, a baseline, DNN or "
                                       "CrossNet (early stopping, resumable)",
                                       formatter_class=Formatter, allow_abbrev=False))
    add_prepare_arguments(sub.add_parser("prepare", help="raw files -> prepared, memory-mapped "
                                         "ids and a feature map (docs/data.md)",
                                         formatter_class=Formatter, allow_abbrev=False))
    add_predict_arguments(sub.add_parser("predict", help="score raw rows with a trained run "
                                         "(docs/serving.md)", formatter_class=Formatter,
                                         allow_abbrev=False))
    add_export_arguments(sub.add_parser("export", help="a run's model as StableHLO or ONNX",
                                        formatter_class=Formatter, allow_abbrev=False))
    add_svd_arguments(sub.add_parser("svd", help="singular values of a run's cross weights",
                                     formatter_class=Formatter, allow_abbrev=False))
    for name, (_, text) in EXPERIMENT_COMMANDS.items():
        experiment(name).add_arguments(sub.add_parser(name, help=text, formatter_class=Formatter,
                                                      allow_abbrev=False))
    for name in backends.command_names():     # plug-in subcommands (group dcnmix.commands)
        forward = sub.add_parser(name, help=PLUGIN_HELP.get(name, f"{name} (dcnmix {name} -h)"),
                                 add_help=False, allow_abbrev=False)
        forward.add_argument("rest", nargs=argparse.REMAINDER)
    return p


# the errors that mean "bad input or options", reported as one line and exit code 2
def _user_errors() -> tuple:
    from .data import DataError, DatasetSpecError
    from .loop import TrainingError
    from .run import RunError
    from .weights import WeightsError
    return (DataError, DatasetSpecError, TrainingError, RunError, WeightsError, ValueError, OSError)


def guarded(command, *args) -> int:
    """Run a command; user errors become one line on stderr and exit code 2."""
    try:
        return command(*args)
    except ConfigError as exc:
        _error(f"{flag(exc.field)}: {one_line(exc)}")
        return 2
    except _user_errors() as exc:
        _error(one_line(exc))
        return 2
    except KeyboardInterrupt:
        print("interrupted; a training run resumes with --resume and the same --out", file=sys.stderr)
        return 130


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    plugin = backends.command(argv[0]) if argv and not argv[0].startswith("-") else None
    if plugin is not None:
        return plugin(argv[1:])
    args = build_parser().parse_args(argv)
    commands = {"train": run_train, "prepare": run_prepare, "predict": run_predict,
                "export": run_export, "svd": run_svd}
    if args.command in EXPERIMENT_COMMANDS:
        return guarded(experiment(args.command).run, args)
    return guarded(commands[args.command], args)


def train_main(argv=None, framework: str | None = None) -> int:
    """`dcnmix-train`, `python -m dcnmix_jax.train` and `python -m dcnmix_torch.train`:
    `dcnmix train` under its old names (framework fixed for the twin's alias)."""
    p = Parser(prog="dcnmix-train", description="Train a model (as `dcnmix train`)",
                                formatter_class=Formatter, allow_abbrev=False)
    add_train_arguments(p)
    return guarded(run_train, p.parse_args(argv), framework)


def svd_main(argv=None) -> int:
    """`dcnmix svd` as a function (argv without the command name)."""
    p = Parser(prog="dcnmix svd", formatter_class=Formatter, allow_abbrev=False)
    add_svd_arguments(p)
    return guarded(run_svd, p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
