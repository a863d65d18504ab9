"""python -m parity [--quick] [--variants-only] [--nnx-only] | python -m parity convert IN OUT --to {jax,torch}"""
from __future__ import annotations

import sys
import time

from dcnmix.config import PRESETS, VARIANT_FIELDS, Variant
from dcnmix.flags import Formatter, Parser, add_fields, one_line


def _table(rows) -> str:
    head = ("check", "configuration", "worst error", "bound", "result")
    body = [(r.check, r.config, f"{r.error:.3g}", "-" if r.bound == float("inf") else f"{r.bound:g}",
             "pass" if r.passed else "FAIL") for r in rows]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body)])


def run_checks(quick: bool, variants_only: bool = False, nnx_only: bool = False) -> int:
    from parity.checks import run_all
    start = time.time()
    rows = []
    for row in run_all(quick=quick, variants_only=variants_only, nnx_only=nnx_only, progress=lambda s: print(f"[{time.time() - start:6.1f}s] {s}",
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


# what a .pt file's layout cannot tell (the structure options it shows)
PT_OPTIONS = ("gate", "activation", "init_scheme")


def main(argv=None) -> int:
    """`python -m parity` and `dcnmix parity` (a plug-in subcommand, group dcnmix.commands)."""
    parser = Parser(prog="python -m parity", formatter_class=Formatter,
                                     allow_abbrev=False,
                                     description="JAX <-> PyTorch parity checks and weight conversion")
    parser.add_argument("--quick", action="store_true", help="a fast subset (the test suite runs it)")
    parser.add_argument("--variants-only", action="store_true",
                        help="only the DCN-Mix variant configurations (presets and options)")
    parser.add_argument("--nnx-only", action="store_true",
                        help="only the Flax NNX rows (NNX vs linen and the twin, mixture vmap vs gemm)")
    sub = parser.add_subparsers(dest="command")
    conv = sub.add_parser("convert", help="convert a weights file between the frameworks",
                          formatter_class=Formatter, allow_abbrev=False)
    conv.add_argument("input", help=".safetensors (dcnmix layout), .msgpack (flax), .pt/.pth (torch)")
    conv.add_argument("output")
    conv.add_argument("--to", choices=("jax", "torch"), required=True)
    conv.add_argument("--preset", choices=tuple(PRESETS), default=None,
                      help="a .pt source's variant (the file holds no config)")
    add_fields(conv, Variant, skip=[f for f in VARIANT_FIELDS if f not in PT_OPTIONS],
               default_none=True)
    args = parser.parse_args(argv)
    if args.command == "convert":
        from parity.files import ConvertError, convert_file
        try:
            options = PRESETS[args.preset].kwargs() if args.preset else {}
            options.update({k: getattr(args, k) for k in PT_OPTIONS if getattr(args, k) is not None})
            print(convert_file(args.input, args.output, args.to, **options))
        except (ConvertError, ValueError, OSError) as exc:
            print(f"error: {one_line(exc)}", file=sys.stderr)
            return 2
        return 0
    return run_checks(args.quick, args.variants_only, args.nnx_only)


def convert_main(argv) -> int:
    """`dcnmix convert IN OUT --to ...` (a plug-in subcommand, group dcnmix.commands)."""
    return main(["convert", *argv])


if __name__ == "__main__":
    sys.exit(main())
