"""The options of one run inside a sweep or a search: `dcnmix train`'s flags with a cell's
(or a trial's) options over them, each value typed and checked by that flag's own parser."""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import os

from ..flags import Parser, csv_list, float_list, int_list

# grid keys that would need the data read again, or are not an option of a run
NOT_GRID = ("dataset", "framework", "out", "resume", "overwrite", "no_progress", "threads",
            "compilation_cache", "device_data_budget", "mesh", "coordinator", "num_processes",
            "process_id", "synthetic_rows", "tensorboard", "log_every")
LIST_TYPES = (int_list, csv_list, float_list)


def parse_grid(items, parser: argparse.ArgumentParser) -> list[tuple[str, dict]]:
    """[(cell name, {dest: typed value})] of KEY=V,V items, typed and checked by the train
    flags' own parser (a bad key or value names it)."""
    axes = []
    for item in items:
        key, eq, values = item.partition("=")
        if not eq:
            raise ValueError(f"--grid {item}: expected KEY=V,V (e.g. order_num=1,2,3,4)")
        action = option(parser, key, f"--grid {item}")
        texts = values.split("/" if action.type in LIST_TYPES else ",")
        axes.append([(action.dest, text.strip(), _typed(action, text.strip(), f"--grid {item}"))
                     for text in texts])
    return [(",".join(f"{d}={t}" for d, t, _ in combo), {d: v for d, _, v in combo})
            for combo in itertools.product(*axes)]


def option(parser: argparse.ArgumentParser, key: str, where: str) -> argparse.Action:
    """The train flag of option `key` (order_num, order-num or --order-num)."""
    actions = {a.dest: a for a in parser._actions}
    dest = key.strip().lstrip("-").replace("-", "_")
    if dest not in actions or dest in NOT_GRID or actions[dest].nargs == 0:
        raise ValueError(f"{where}: {key.strip()!r} is not an option of a run (dcnmix train -h "
                         "lists them)")
    return actions[dest]


def typed(parser: argparse.ArgumentParser, key: str, value, where: str) -> tuple[str, object]:
    """(dest, value) of option `key`: a string through the flag's type, a number or null as
    given (the config checks it); `where` names the source in errors."""
    action = option(parser, key, where)
    return action.dest, _typed(action, value, where) if isinstance(value, str) else value


def _typed(action: argparse.Action, text: str, where: str):
    try:
        value = action.type(text) if action.type else text
    except (argparse.ArgumentTypeError, ValueError) as exc:
        raise ValueError(f"{where}: {text!r} is not a value of {action.option_strings[0]} "
                         f"({exc})") from None
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"{where}: {text!r} is not one of {action.option_strings[0]}'s "
                         f"choices ({', '.join(map(str, action.choices))})")
    return value


def cell_args(args: argparse.Namespace, options: dict) -> argparse.Namespace:
    """The flags of one cell: the sweep's, with the cell's options over them. A cell that sets
    another model drops the flags that model does not have (a comparison table's shared
    --emb-num reaches only the models with an embedding size)."""
    from ..config import OPTIONS, VARIANT_FIELDS
    ns = argparse.Namespace(**{**vars(args), **options})
    model = getattr(ns, "model", "dcn")
    if "model" in options:
        for name in [n for n in vars(args) if n in _model_flags() and n not in OPTIONS[model]]:
            if name not in options and name != "model":
                delattr(ns, name)
        if model != "dcn":
            ns.preset = "seed"
            for name in VARIANT_FIELDS:
                setattr(ns, name, None)
    return ns


def _model_flags() -> set:
    from ..config import ModelConfig
    return {f.name for f in dataclasses.fields(ModelConfig)}


def logging_hooks(ns: argparse.Namespace) -> list:
    """A cell's or a trial's TensorBoard hook (--tensorboard DIR): DIR/<its folder's name>."""
    from ..tracking import TensorBoard
    board = getattr(ns, "tensorboard", None)
    return [TensorBoard(os.path.join(board, os.path.basename(ns.out)))] if board else []


def train_parser() -> argparse.ArgumentParser:
    """A parser of `dcnmix train`'s flags (whose actions type a grid's or a space's values)."""
    from ..cli import add_train_arguments
    parser = Parser(prog="dcnmix train")
    add_train_arguments(parser)
    return parser


def run_configs(ns: argparse.Namespace, splits):
    """(ModelConfig, TrainConfig) of one run's flags, its shape from the data."""
    from ..cli import model_options, train_config
    from ..config import ModelConfig
    cfg = ModelConfig.create(field_num=splits[0].field_num, feat_dim=splits[0].feat_dim,
                             **splits[0].typed_inputs(), **model_options(ns))
    return cfg, train_config(ns)
