"""The building blocks of the `dcnmix` command lines (and parity's): flags made from
dataclass fields, argument types, the help formatter, one-line errors. Framework-free."""
from __future__ import annotations

import argparse
import dataclasses


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


class Parser(argparse.ArgumentParser):
    """argparse with its mistakes in one line on stderr (exit code 2), pointing at -h
    rather than printing the whole usage."""

    def error(self, message: str):
        import sys
        print(f"error: {message} ({self.prog} -h lists the options)", file=sys.stderr)
        raise SystemExit(2)


def on_off(text: str) -> bool:
    if text.lower() not in ("on", "off", "true", "false", "1", "0"):
        raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")
    return text.lower() in ("on", "true", "1")


def int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def positive_int(text: str) -> int:
    """An integer >= 1 (and below 2^31: a count of threads, rows or processes)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if not 1 <= value < 2 ** 31:
        raise argparse.ArgumentTypeError(f"expected an integer in [1, 2^31), got {text!r}")
    return value


def byte_size(text: str) -> int:
    units = {"": 1, "K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30, "T": 2 ** 40}
    number, unit = text.strip().upper().rstrip("B") or "0", ""
    if number[-1:] in units and number[-1:] != "":
        number, unit = number[:-1], number[-1]
    try:
        value = float(number) * units[unit]
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"expected a size such as 2G, 500M or 1000000, got {text!r}") from None
    if not 0 <= value < 2 ** 62:        # nan and inf fail the comparison
        raise argparse.ArgumentTypeError(f"expected a size between 0 and 4E, got {text!r}")
    return int(value)


def buckets(text: str) -> tuple[tuple[str, int], ...]:
    try:
        return tuple((name.strip(), int(n)) for name, n in (part.split("=") for part in csv_list(text)))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FIELD=N,FIELD=N, got {text!r}") from None


def csv_list(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def float_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in csv_list(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers X,X,..., got {text!r}") from None


def rule_pair(text: str) -> tuple[str, str]:
    """COL=RULE (a bucketing rule: log, quantile:N or boundaries a,b,c)."""
    name, eq, rule = text.partition("=")
    if not eq or not name.strip() or not rule.strip():
        raise argparse.ArgumentTypeError(f"expected COL=RULE (log, quantile:N or a,b,c), got {text!r}")
    return name.strip(), rule.strip()


# dataclass fields whose flag parses its own way (metadata "flag_type")
FLAG_TYPES = {"buckets": {"type": lambda text: buckets(text), "metavar": "COL=N,..."},
              "rules": {"type": rule_pair, "action": "append", "metavar": "COL=RULE"}}


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
        special = FLAG_TYPES.get(f.metadata.get("flag_type"))
        if special:
            kwargs.update(special)
            kwargs["default"] = None if special.get("action") == "append" else kwargs["default"]
        elif f.metadata.get("choices"):
            kwargs["choices"] = f.metadata["choices"]
        elif kind == "bool":
            kwargs.update(type=on_off, metavar="on|off")
        elif kind.startswith("tuple[str"):
            kwargs.update(type=csv_list, metavar="COL,COL,...")
        elif kind.startswith("tuple[float"):
            kwargs.update(type=float_list, metavar="X,X,...")
        elif kind.startswith("tuple"):
            kwargs.update(type=int_list, metavar="N,N,...")
        elif kind.startswith(("int", "float")):
            kwargs["type"] = int if kind.startswith("int") else float
        group.add_argument(flag(f.name), **kwargs)


def one_line(exc: Exception) -> str:
    """An error's message on one line (a library's multi-line message joined)."""
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) \
        or type(exc).__name__
