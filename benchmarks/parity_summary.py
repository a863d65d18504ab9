"""Condense `python -m parity` output into one row per check (worst configuration).

    python -m parity > docs/parity_full.txt; python benchmarks/parity_summary.py docs/parity_full.txt
"""
import sys


def main(path: str) -> None:
    worst: dict = {}
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or cells[0] in ("check", "") or set(cells[0]) <= {"-"}:
            continue
        check, config, error, bound, result = cells
        try:
            float(error)
        except ValueError:
            continue
        w = worst.setdefault(check, {"error": -1.0, "config": "", "bound": bound, "n": 0, "fail": 0})
        w["n"] += 1
        w["fail"] += result != "pass"
        if float(error) > w["error"]:
            w.update(error=float(error), config=config)
    print("| check | configurations | worst error (where) | bound | failed |")
    print("| --- | --- | --- | --- | --- |")
    for check, w in worst.items():
        print(f"| {check} | {w['n']} | {w['error']:.3g} ({w['config']}) | {w['bound']} | {w['fail']} |")


if __name__ == "__main__":
    main(sys.argv[1])
