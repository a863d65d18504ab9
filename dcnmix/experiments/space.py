"""The search space of `dcnmix tune`: which options a trial draws, and from what.

A space is a JSON object, option name -> one of
    {"low": A, "high": B}              a number in [A, B] (integers when both are; "log": true
                                       draws on a log scale)
    {"choices": [V, V, ...]}           one of the values (a string is parsed as the flag is:
                                       "128,64,32" for hidden_nums; null for "not set")
    V                                  a fixed value
Option names are `dcnmix train`'s flags (order_num or order-num). `dcnmix tune --print-space`
prints the default space below, to edit and pass back with `--space FILE`.
"""
from __future__ import annotations

import json

# the options that matter for DCN-Mix on CTR data (docs/experiments.md "The search space")
DEFAULT_SPACE = {
    "emb_weight_decay": {"low": 1e-6, "high": 0.1, "log": True},
    "dropout": {"low": 0.0, "high": 0.5},
    "lr": {"low": 3e-4, "high": 1e-2, "log": True},
    "lr_decay": {"choices": [None, 0.5, 0.1]},
    "order_num": {"low": 1, "high": 4},
    "r": {"choices": [8, 16, 32]},
    "k": {"choices": [2, 4, 8]},
    "hidden_nums": {"choices": ["128,64,32", "256,128,64", "400,400,400"]},
    "batch_size": {"choices": [1024, 2048, 4096]},
}
# the first trial of a new study: the recipe that works on Frappe (docs/results.md), so the
# search starts from a known good point (drawn from the space's own values where it can)
FIRST_TRIAL = {"emb_weight_decay": 0.05, "dropout": 0.2, "lr": 1e-3, "lr_decay": 0.1,
               "order_num": 3, "r": 16, "k": 4, "hidden_nums": "400,400,400", "batch_size": 4096}


def load(path: str | None) -> dict:
    """The space in file `path` (JSON), or the default one."""
    if path is None:
        return DEFAULT_SPACE
    try:
        with open(path) as fh:
            space = json.load(fh)
    except OSError as exc:
        raise ValueError(f"--space {path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ValueError(f"--space {path}: not valid JSON ({exc})") from None
    if not isinstance(space, dict) or not space:
        raise ValueError(f"--space {path}: expected a JSON object of option -> range")
    return space


def check(space: dict, parser, where: str) -> None:
    """Every entry's option a train flag and its form one of the three, before any trial."""
    from .options import typed
    for name, entry in space.items():
        typed(parser, name, None, f"{where}: {name}")
        if isinstance(entry, dict):
            if set(entry) - {"low", "high", "log", "choices"} or \
                    ("choices" in entry) == ("low" in entry or "high" in entry):
                raise ValueError(f"{where}: {name}: expected {{\"low\", \"high\"[, \"log\"]}} or "
                                 f"{{\"choices\": [...]}}, got {json.dumps(entry)}")
            if "choices" in entry:
                for value in entry["choices"]:
                    typed(parser, name, value, f"{where}: {name}")
            elif not all(isinstance(entry.get(k), (int, float)) for k in ("low", "high")) \
                    or entry["low"] > entry["high"]:
                raise ValueError(f"{where}: {name}: low and high must be numbers, low <= high")


def first_trial(space: dict) -> dict:
    """FIRST_TRIAL's values of the space's drawn options (those it can take)."""
    out = {}
    for name, entry in space.items():
        value = FIRST_TRIAL.get(name.replace("-", "_"))
        if not isinstance(entry, dict) or value is None and "choices" not in entry:
            continue
        if ("choices" in entry and value in entry["choices"]) or \
                ("low" in entry and entry["low"] <= value <= entry["high"]):
            out[name] = value
    return out


def suggest(trial, space: dict, parser, where: str) -> dict:
    """A trial's options {dest: value} (optuna's suggest_* under the option's name)."""
    from .options import typed
    options = {}
    for name, entry in space.items():
        if not isinstance(entry, dict):
            value = entry
        elif "choices" in entry:
            value = trial.suggest_categorical(name, entry["choices"])
        elif isinstance(entry["low"], int) and isinstance(entry["high"], int):
            value = trial.suggest_int(name, entry["low"], entry["high"], log=entry.get("log", False))
        else:
            value = trial.suggest_float(name, entry["low"], entry["high"], log=entry.get("log", False))
        dest, value = typed(parser, name, value, f"{where}: {name}")
        options[dest] = value
    return options
