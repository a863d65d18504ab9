"""Run Python with some top-level packages made unimportable, to prove import rules.

    python tests/blocked.py jax,flax,optax -c "import dcnmix_torch.model"
    python tests/blocked.py torch -m dcnmix_jax.train --epochs 1 ...

Any import of a blocked package (at import time or later, inside a function) raises
ImportError naming it, so a rule that is broken fails loudly.
"""
import importlib.abc
import runpy
import sys


class Blocker(importlib.abc.MetaPathFinder):
    def __init__(self, names):
        self.names = set(names)

    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in self.names:
            raise ImportError(f"blocked by tests/blocked.py: {fullname}")
        return None


def main():
    blocked, mode, target, *rest = sys.argv[1:]
    sys.meta_path.insert(0, Blocker(blocked.split(",")))
    for name in list(sys.modules):
        if name.split(".")[0] in blocked.split(","):
            del sys.modules[name]
    sys.argv = [target, *rest]
    if mode == "-c":
        exec(compile(target, "<blocked -c>", "exec"), {"__name__": "__main__"})
    elif mode == "-m":
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        raise SystemExit("usage: blocked.py NAMES (-c CODE | -m MODULE [ARGS])")


if __name__ == "__main__":
    main()
