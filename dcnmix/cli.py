"""The `dcnmix` command: train, prepare, predict, export, svd, convert, parity. A thin layer over the Python API.

    dcnmix train [--dataset SPEC] [--framework jax|torch] [--model dcn|fm|ffm|pnn|deepfm|nfm]
                 [model, variant, training flags]
    dcnmix prepare SPEC --out DIR [split and column options]
    dcnmix predict RUN_DIR --data SPEC [--out FILE.parquet|.csv] [--framework jax|torch]
    dcnmix export RUN_DIR --format stablehlo|onnx --out FILE
    dcnmix svd RUN_DIR [--layer L]
    dcnmix convert IN OUT --to jax|torch         (parity's converter)
    dcnmix parity [--quick]                      (parity's checks)

The model, variant and training flags are made from the fields of dcnmix.config's
dataclasses (names, defaults, choices and help), so they are never restated here. Backends
are imported only once a command needs one. Mistakes are one line on stderr and exit 2.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from .config import (FRAMEWORKS, MODELS, OPTIONS, PRESETS, VARIANT_FIELDS, ConfigError,
                     ModelConfig, TrainConfig, Variant, model_defaults)

FROM_DATA = ("field_num", "feat_dim", "variant")


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def _on_off(text: str) -> bool:
    if text.lower() not in ("on", "off", "true", "false", "1", "0"):
        raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")
    return text.lower() in ("on", "true", "1")


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _bytes(text: str) -> int:
    units = {"": 1, "K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30, "T": 2 ** 40}
    number, unit = text.strip().upper().rstrip("B") or "0", ""
    if number[-1:] in units and number[-1:] != "":
        number, unit = number[:-1], number[-1]
    try:
        value = float(number) * units[unit]
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"expected a size such as 2G, 500M or 1000000, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a size cannot be negative, got {text!r}")
    return int(value)


def _buckets(text: str) -> tuple[tuple[str, int], ...]:
    try:
        return tuple((name.strip(), int(n)) for name, n in (part.split("=") for part in _csv_list(text)))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FIELD=N,FIELD=N, got {text!r}") from None


def _csv_list(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_fields(group, cls, *, skip=(), defaults=None, default_none: bool = False,
               default_text=None) -> None:
    """One flag per dataclass field: its help and choices from the field's metadata, its type
    from its annotation; bools are on|off, tuples comma-separated. default_text(name): a
    flag's defaults in words; such a flag is absent from the parsed args unless given."""
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = None if default_none else (defaults or {}).get(f.name, f.default)
        kind = str(f.type)
        kwargs = {"help": f.metadata.get("help", f.name), "default": default}
        if default_text is not None:
            kwargs.update(default=argparse.SUPPRESS,
                          help=f"{kwargs['help']} (default: {default_text(f.name)})")
        if f.metadata.get("choices"):
            kwargs["choices"] = f.metadata["choices"]
        elif kind == "bool":
            kwargs.update(type=_on_off, metavar="on|off")
        elif kind.startswith("tuple"):
            kwargs.update(type=_int_list, metavar="N,N,...")
        elif kind.startswith(("int", "float")):
            kwargs["type"] = int if kind.startswith("int") else float
        group.add_argument(flag(f.name), **kwargs)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="synthetic",
                   help="synthetic | frappe[:DIR] | criteo:PATH | csv:PATH | parquet:PATH | "
                        "libfm:PATH | prepared:DIR (criteo, csv and parquet are prepared once "
                        "and cached; docs/data.md)")
    p.add_argument("--framework", choices=FRAMEWORKS, default="jax")
    p.add_argument("--out", default="runs/latest", help="the run folder")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run an existing OUT holds (without it, such a folder is refused)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for either framework (default: the framework's own choice)")
    p.add_argument("--device-data-budget", type=_bytes, default=None, metavar="BYTES",
                   help="training data kept on the device (e.g. 2G, 500M); a larger split streams "
                        "from the host (default: a quarter of the device's memory)")
    add_fields(p.add_argument_group("model (the seed's DCN arguments; a baseline's options "
                                    "default to its seed preset, docs/baselines.md)"),
               ModelConfig, skip=FROM_DATA, default_text=_model_default_text)
    v = p.add_argument_group("DCN-Mix variant: a preset, then single options over it "
                             "(docs/variants.md)")
    v.add_argument("--preset", choices=tuple(PRESETS), default="seed")
    add_fields(v, Variant, default_none=True)
    add_fields(p.add_argument_group("training"), TrainConfig)
    so = p.add_argument_group("scale-out (jax; docs/scale-out.md)")
    so.add_argument("--mesh", default=None,
                    help="DATAxMODEL devices, e.g. 4x2: batches split over DATA, the embedding "
                         "table row-sharded over MODEL (default: one device)")
    so.add_argument("--coordinator", default=None,
                    help="HOST:PORT of process 0 for jax.distributed.initialize (multi-process); "
                         "'auto' lets JAX detect the cluster (TPU pods, SLURM)")
    so.add_argument("--num-processes", type=int, default=None, help="processes in all")
    so.add_argument("--process-id", type=int, default=None, help="this process's index")
    d = p.add_argument_group("data")
    d.add_argument("--synthetic-rows", type=int, default=100_000, help="synthetic: rows")
    add_column_arguments(d)
    d.add_argument("--split-seed", type=int, default=0,
                   help="the random split's seed (and the synthetic data's), apart from --seed")


def add_column_arguments(d) -> None:
    d.add_argument("--label", default="label", help="csv/parquet: label column")
    d.add_argument("--categorical", type=_csv_list, default=(),
                   help="csv/parquet: comma-separated categorical columns")
    d.add_argument("--numeric", type=_csv_list, default=(),
                   help="csv/parquet: comma-separated numeric columns (log-bucketed)")
    d.add_argument("--delimiter", default=",", help="csv: the field separator")
    d.add_argument("--min-count", type=int, default=2,
                   help="criteo/csv/parquet: keep tokens seen at least this often in training")


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
             if f.name not in FROM_DATA and hasattr(args, f.name)}
    model = given.get("model", "dcn")
    options = {**model_defaults(model), **given}
    variant_flags = {f: getattr(args, f) for f in VARIANT_FIELDS if getattr(args, f) is not None}
    if model != "dcn":
        dcn_only = ["preset"] * (args.preset != "seed") + list(variant_flags)
        if dcn_only:
            raise ConfigError(dcn_only[0], f"a DCN-Mix option, not one of model {model}")
        ModelConfig.create(field_num=1, feat_dim=1, **options)
        return options
    options["variant"] = Variant.preset(args.preset).replace(**variant_flags)
    ModelConfig(field_num=1, feat_dim=1, **options)
    return options


def train_config(args) -> TrainConfig:
    return TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})


def data_spec(args):
    from .data import DataSpec
    return DataSpec(spec=args.dataset, synthetic_rows=args.synthetic_rows,
                    split_seed=args.split_seed, label=args.label, categorical=args.categorical,
                    numeric=args.numeric, min_count=args.min_count, delimiter=args.delimiter)


def run_train(args, framework: str | None = None) -> int:
    from .loop import limit_threads, train
    framework = framework or args.framework
    tc, options = train_config(args), model_options(args)
    limit_threads(args.threads)            # before _scale_out may start jax
    mesh, out = _scale_out(args, framework)
    summary, out = train(options, data_spec(args), out=out, framework=framework, train_config=tc,
                         resume=args.resume, overwrite=args.overwrite,
                         progress=not args.no_progress, mesh=mesh,
                         threads=args.threads, data_budget=args.device_data_budget)
    print(f"best epoch {summary['best_epoch']}: val AUC {summary['val_auc']:.5f}; "
          f"test AUC {summary['test_auc']:.5f}, test logloss {summary['test_logloss']:.5f}; "
          f"{summary['params']:,} parameters; {summary['train_examples_per_s']:,.0f} train ex/s "
          f"-> {out}/summary.json")
    return 0


def _scale_out(args, framework: str):
    """(mesh or None, output folder of this process) from --mesh / --coordinator.

    Every process trains the same global model on its shards; process 0 writes --out, process
    i > 0 its own copy under OUT/process-i (so each host can resume without a shared disk)."""
    if args.coordinator is None and args.mesh is None:
        return None, args.out
    if framework != "jax":
        raise ValueError("--mesh and --coordinator are JAX options; the twin trains on one device")
    import jax
    if args.coordinator is not None:
        if args.coordinator == "auto":
            jax.distributed.initialize()
        else:
            jax.distributed.initialize(coordinator_address=args.coordinator,
                                       num_processes=args.num_processes,
                                       process_id=args.process_id)
    from dcnmix_jax.sharding import make_mesh, parse_mesh
    data, model = parse_mesh(args.mesh) if args.mesh else (jax.device_count(), 1)
    mesh = make_mesh(data, model)
    index = jax.process_index()
    out = args.out if index == 0 else os.path.join(args.out, f"process-{index}")
    print(f"mesh {data}x{model} (data x model) over {jax.device_count()} {jax.devices()[0].platform} "
          f"devices, process {index} of {jax.process_count()}", flush=True)
    return mesh, out


def add_prepare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="criteo:PATH | csv:PATH | parquet:PATH | libfm:PATH | frappe[:DIR], "
                                "or just the kind (criteo, csv, ...) with --train/--valid/--test")
    p.add_argument("--out", required=True, help="the prepared folder (replaced when complete)")
    s = p.add_argument_group("split (default: a seeded random 80/10/10 split)")
    for name in ("train", "valid", "test"):
        s.add_argument(f"--{name}", default=None, help=f"the {name} file (all three, or none)")
    s.add_argument("--split-column", default=None,
                   help="a column saying train, valid (validation) or test for each row")
    s.add_argument("--order-by", default=None,
                   help="a numeric or time column: the earliest 80%% of rows train, the next 10%% "
                        "validate, the rest test")
    s.add_argument("--split-seed", type=int, default=0, help="the random split's seed")
    c = p.add_argument_group("columns")
    add_column_arguments(c)
    c.add_argument("--columns", type=_csv_list, default=(),
                   help="csv without a header line: the names of its columns")
    c.add_argument("--hash-buckets", type=_buckets, default=(), metavar="FIELD=N,...",
                   help="categorical fields too large to enumerate: id = 2 + fnv1a64(token) %% N "
                        "(no vocabulary, no out-of-vocabulary id)")


def run_prepare(args) -> int:
    from .data.prepare import PrepareOptions, prepare, report
    from .data.specs import default_frappe_dir
    kind, _, path = args.spec.partition(":")
    files = tuple(f for f in (args.train, args.valid, args.test) if f)
    if files and (len(files) != 3 or path):
        raise ValueError("--train, --valid and --test come together, and replace the spec's PATH "
                         f"(give {kind}, not {args.spec})")
    if kind == "frappe":
        path = path or default_frappe_dir()
    elif not files and not path:
        raise ValueError(f"{args.spec}: give a file ({kind}:PATH) or --train/--valid/--test")
    opt = PrepareOptions(kind=kind, paths=files or (path,), label=args.label,
                         categorical=args.categorical, numeric=args.numeric,
                         delimiter=args.delimiter, columns=args.columns, min_count=args.min_count,
                         split_column=args.split_column, order_by=args.order_by,
                         split_seed=args.split_seed, hash_buckets=args.hash_buckets)
    command = "dcnmix prepare " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["prepare"] else None
    fmap = prepare(opt, args.out, command=command, log=_status)
    print(file=sys.stderr)
    print(report(fmap))
    print(f"-> {os.path.join(args.out, 'feature_map.json')} ({fmap.info.get('seconds', 0):.1f} s)")
    return 0


def _status(text: str) -> None:
    """One progress line on stderr, rewritten in place."""
    print(f"\r{text}", end="", file=sys.stderr, flush=True)


def add_predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run folder written by `dcnmix train`")
    p.add_argument("--data", required=True, help="criteo:PATH | csv:PATH | parquet:PATH (raw rows, "
                                                 "encoded with the run's feature map)")
    p.add_argument("--out", default=None, help="FILE.parquet or FILE.csv: one probability per "
                                               "input row, in input order")
    p.add_argument("--framework", choices=FRAMEWORKS, default="jax")
    p.add_argument("--batch-size", type=int, default=65536, help="rows per forward pass")
    p.add_argument("--keep", default=None, help="a column of the input copied beside each "
                                                "probability (a key)")


def run_predict(args) -> int:
    import json
    from .inference import load_run, predict_file
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    run = load_run(args.run_dir, framework=args.framework)
    result = predict_file(run, args.data, args.out, batch_size=args.batch_size, keep=args.keep,
                          log=_status)
    print(file=sys.stderr)
    line = f"{result['rows']:,} rows scored"
    if "auc" in result:
        line += f"; AUC {result['auc']:.5f}, logloss {result['logloss']:.5f}"
    print(line + (f" -> {args.out}" if args.out else ""))
    if args.out:
        with open(args.out + ".metrics.json", "w") as fh:
            json.dump({**result, "data": args.data, "run": args.run_dir,
                       "framework": args.framework}, fh, indent=2)
    return 0


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    from .export import FORMATS
    p.add_argument("run_dir", help="a run folder written by `dcnmix train`")
    p.add_argument("--format", choices=FORMATS, required=True)
    p.add_argument("--out", required=True, help="the exported file (the feature map is copied "
                                                "beside it)")


def run_export(args) -> int:
    from .export import export_run
    info = export_run(args.run_dir, args.format, args.out)
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
    p.add_argument("--rows", type=int, default=5000, help="validation rows for the mean gate")


def run_svd(args) -> int:
    from .data import DataSpec
    from .run import RunFolder
    from .svd import run_curves, write_report
    if args.dataset is not None:
        spec = DataSpec(spec=args.dataset)
    else:
        recorded = RunFolder(args.run_dir).read_summary().get("data")
        spec = DataSpec.from_dict(recorded) if recorded else None
    ids = spec.load()[1].ids[: args.rows] if spec is not None else None
    curves, cfg = run_curves(args.run_dir, ids, args.layer)
    write_report(args.run_dir, curves, cfg, args.layer)
    print(f"wrote {args.run_dir}/svd.csv and svd.png")
    return 0


def _parity(argv: list[str]) -> int:
    """parity's own CLI (tests, benchmarks and this command are its only importers)."""
    from parity.__main__ import main
    return main(argv)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dcnmix", description=__doc__.split("\n")[0],
                                formatter_class=Formatter, allow_abbrev=False)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_train_arguments(sub.add_parser("train", help="train a DCN or a baseline (early "
                                       "stopping, resumable)",
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
    for name, what in (("convert", "convert a weights file between the frameworks "
                                   "(dcnmix convert -h for its options)"),
                       ("parity", "run the JAX <-> PyTorch parity checks (--quick: a subset)")):
        forward = sub.add_parser(name, help=what, add_help=False, allow_abbrev=False)
        forward.add_argument("rest", nargs=argparse.REMAINDER)
    return p


# the errors that mean "bad input or options", reported as one line and exit code 2
def _user_errors() -> tuple:
    from .data import DataError, DatasetSpecError
    from .loop import TrainingError
    from .run import RunError
    from .weights import WeightsError
    return (DataError, DatasetSpecError, TrainingError, RunError, WeightsError, ValueError, OSError)


def one_line(exc: Exception) -> str:
    """An error's message on one line (a library's multi-line message joined)."""
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) \
        or type(exc).__name__


def guarded(command, *args) -> int:
    """Run a command; user errors become one line on stderr and exit code 2."""
    try:
        return command(*args)
    except ConfigError as exc:
        print(f"error: {flag(exc.field)}: {one_line(exc)}", file=sys.stderr)
        return 2
    except _user_errors() as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; a training run resumes with --resume and the same --out", file=sys.stderr)
        return 130


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] in (["convert"], ["parity"]):
        return _parity(argv[1:] if argv[0] == "parity" else argv)
    args = build_parser().parse_args(argv)
    commands = {"train": run_train, "prepare": run_prepare, "predict": run_predict,
                "export": run_export, "svd": run_svd}
    return guarded(commands[args.command], args)


def train_main(argv=None, framework: str | None = None) -> int:
    """`dcnmix-train`, `python -m dcnmix_jax.train` and `python -m dcnmix_torch.train`:
    `dcnmix train` under its old names (framework fixed for the twin's alias)."""
    p = argparse.ArgumentParser(prog="dcnmix-train", description="Train a DCN (as `dcnmix train`)",
                                formatter_class=Formatter, allow_abbrev=False)
    add_train_arguments(p)
    return guarded(run_train, p.parse_args(argv), framework)


def svd_main(argv=None) -> int:
    """`python -m dcnmix.svd`-style alias of `dcnmix svd`."""
    p = argparse.ArgumentParser(prog="dcnmix svd", formatter_class=Formatter, allow_abbrev=False)
    add_svd_arguments(p)
    return guarded(run_svd, p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
