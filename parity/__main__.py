"""python -m parity [--quick] [--variants-only] | python -m parity convert IN OUT --to {jax,torch}"""
from __future__ import annotations

import argparse
import sys
import time


def _table(rows) -> str:
    head = ("check", "configuration", "worst error", "bound", "result")
    body = [(r.check, r.config, f"{r.error:.3g}", "-" if r.bound == float("inf") else f"{r.bound:g}",
             "pass" if r.passed else "FAIL") for r in rows]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body)])


def run_checks(quick: bool, variants_only: bool = False) -> int:
    from parity.checks import run_all
    start = time.time()
    rows = []
    for row in run_all(quick=quick, variants_only=variants_only, progress=lambda s: print(f"[{time.time() - start:6.1f}s] {s}",
                                                             file=sys.stderr, flush=True)):
        rows.append(row)
    print(_table(rows))
    details = [r for r in rows if r.detail]
    if details:
        print("\nDetails (per-epoch validation AUC, worst tensors):")
        for r in details:
            print(f"- {r.check} [{r.config}]: {r.detail}")
    failed = [r for r in rows if not r.passed]
    print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parity",
                                     description="JAX <-> PyTorch parity checks and weight conversion")
    parser.add_argument("--quick", action="store_true", help="a fast subset (the test suite runs it)")
    parser.add_argument("--variants-only", action="store_true",
                        help="only the DCN-Mix variant configurations (presets and options)")
    sub = parser.add_subparsers(dest="command")
    conv = sub.add_parser("convert", help="convert a weights file between the frameworks")
    conv.add_argument("input", help=".safetensors (dcnmix layout), .msgpack (flax), .pt/.pth (torch)")
    conv.add_argument("output")
    conv.add_argument("--to", choices=("jax", "torch"), required=True)
    from dcnmix_jax.config import ACTIVATIONS, GATES, INITS, PRESETS
    conv.add_argument("--preset", choices=tuple(PRESETS), default=None,
                      help="a .pt source's variant (the file holds no config)")
    conv.add_argument("--gate", choices=GATES, default=None)
    conv.add_argument("--activation", choices=ACTIVATIONS, default=None)
    conv.add_argument("--init-scheme", choices=INITS, default=None)
    args = parser.parse_args(argv)
    if args.command == "convert":
        from parity.files import ConvertError, convert_file
        try:
            options = dict(PRESETS[args.preset]) if args.preset else {}
            options.update({k: getattr(args, k) for k in ("gate", "activation", "init_scheme")
                            if getattr(args, k) is not None})
            print(convert_file(args.input, args.output, args.to, **options))
        except (ConvertError, ValueError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    return run_checks(args.quick, args.variants_only)


if __name__ == "__main__":
    sys.exit(main())
