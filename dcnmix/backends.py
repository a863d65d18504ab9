"""The frameworks as plug-ins: a `Backend` does all of a framework's work, found by name.

    backend = dcnmix.backends.get("jax")          # or "torch", or another package's
    trainer = backend.trainer(cfg, tc)            # what dcnmix.loop trains (a Trainer)
    predict = backend.predictor(cfg, arrays)      # best weights -> batched probabilities
    backend.export("stablehlo", predict, "model.bin")

Backends are registered as package entry points in the group `dcnmix.backends` (this
project's pyproject.toml names `jax` and `torch`), so another installed package can add one
without changing dcnmix. The `dcnmix` command's plug-in subcommands (`convert`, `parity`)
come the same way, from the group `dcnmix.commands`. The core imports no framework: a
backend is imported only when it is asked for by name.

What each backend (and each model, dcnmix.models) supports is declared, and refused in one
place, `check_supported`, naming the flag.
"""
from __future__ import annotations

import functools
from importlib import metadata
from typing import Any, Callable, Iterator, Protocol

import numpy as np

from .config import ConfigError, ModelConfig, TrainConfig

GROUP = "dcnmix.backends"
COMMANDS = "dcnmix.commands"


class Trainer(Protocol):
    """A model and its optimiser state in one framework: what the training loop drives."""

    name: str            # the backend's name
    state_file: str      # file name of its state in the checkpoint folder
    n_params: int

    # optional: process = (index, count) of a multi-process run (absent: (0, 1)); such a
    # trainer's train_chunks takes local=True: `dataset` holds only this process's rows and
    # each batch of `order` is its part of the global batch (dcnmix.data.streaming)

    def train_chunks(self, dataset, order: list[np.ndarray]) -> Iterator[tuple[int, Any]]:
        """Train on the batches `order` (row indices of dataset.inputs / dataset.labels);
        yield (rows done, step losses)."""

    def set_learning_rate(self, lr: float) -> None: ...
    def notes(self) -> dict:
        """How this trainer ran, for the summary (JAX: the dispatch path it measured)."""
    def predict(self, ids: np.ndarray) -> np.ndarray: ...
    def arrays(self) -> dict[str, np.ndarray]: ...
    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None: ...
    def state_bytes(self) -> bytes: ...
    def restore_state(self, data: bytes) -> None: ...


class Predictor(Protocol):
    """A trained model ready to score: `predictor(ids [B, F] int32)` -> probabilities [B]."""

    def __call__(self, ids: np.ndarray) -> np.ndarray: ...


def predict_in_batches(predict: Callable[[np.ndarray], Any], ids: np.ndarray,
                       batch_size: int = 8192, *, pad: bool = False) -> np.ndarray:
    """Probabilities (float64) of every row of ids, `batch_size` rows per call of `predict`
    (any function of a batch of ids: a Predictor, a jitted step); empty ids give an empty
    result. The one batched predict loop of both frameworks and of dcnmix.inference. `ids`
    may be a typed batch (dcnmix.data.features), sliced the same way.

    pad: the last, partial batch repeats its last row up to padded_rows(...) rows and the
    extra probabilities are dropped, so that a compiled predict sees one batch shape for
    every split (rows are scored independently in eval mode)."""
    from .data import features
    n, out = features.rows(ids), []
    for i in range(0, n, batch_size):
        rows, index = min(batch_size, n - i), slice(i, i + batch_size)
        if pad and rows < batch_size:
            index = np.pad(np.arange(i, n), (0, padded_rows(rows, n, batch_size) - rows), mode="edge")
        out.append(np.asarray(predict(features.take(ids, index)))[:rows])
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def padded_rows(rows: int, total: int, batch_size: int) -> int:
    """The rows a partial predict batch is padded to: batch_size when the data fills one
    batch (one shape for every split), else the next power of two (small data: at most 2x)."""
    return batch_size if total >= batch_size else min(batch_size, 1 << max(rows - 1, 0).bit_length())


class Backend(Protocol):
    """One framework's side of dcnmix.

    supports: TrainConfig field (or 'mesh') -> the values this backend trains with (absent:
    any); export_formats: format name -> a line on what it writes; apis: the model APIs its
    predictor offers (the first is the default; JAX: linen, nnx)."""

    name: str
    supports: dict[str, tuple]
    export_formats: dict[str, str]
    apis: tuple[str, ...]

    def trainer(self, cfg: ModelConfig, tc: TrainConfig, *, mesh=None,
                data_budget: int | None = None) -> Trainer: ...
    def predictor(self, cfg: ModelConfig, arrays: dict[str, np.ndarray], *,
                  api: str | None = None) -> Predictor: ...
    def export(self, fmt: str, predictor: Predictor, out: str, *, platforms=None) -> dict: ...
    def set_threads(self, threads: int) -> None: ...
    def compilation_cache(self, folder: str | None) -> str | None:
        """Keep this process's compiled programs under `folder` (None: as the framework is
        configured); returns the folder in use, or None when the backend compiles nothing
        worth keeping."""
    def scale_out(self, *, mesh: str | None, coordinator: str | None,
                  num_processes: int | None, process_id: int | None) -> tuple[Any, int, str]:
        """(mesh, this process's index, a line describing both), after starting the
        multi-process runtime when a coordinator is given."""


def _entry_points(group: str) -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=group)}


def names() -> tuple[str, ...]:
    """The installed backends' names, 'jax' first when present (the default)."""
    found = sorted(_entry_points(GROUP))
    return tuple(sorted(found, key=lambda n: n != "jax"))


@functools.lru_cache(maxsize=None)
def get(name: str) -> Backend:
    """The backend called `name`, imported now."""
    found = _entry_points(GROUP)
    if name not in found:
        raise ConfigError("framework", f"unknown framework {name!r} (installed backends: "
                                       f"{', '.join(sorted(found)) or 'none: is dcnmix installed?'})")
    try:
        return found[name].load()
    except ImportError as exc:
        raise ConfigError("framework", f"the {name} backend cannot be loaded ({exc}); install "
                                       f"its framework, e.g. pip install 'dcnmix[{name}]'") from None


class MissingExtra(ValueError):
    """An optional dependency a command needs is not installed; the message names the extra."""


def require_extra(module: str, *, extra: str, purpose: str) -> None:
    """A MissingExtra (one line, naming the extra to install) unless `module` imports."""
    import importlib.util
    if importlib.util.find_spec(module) is None:
        raise MissingExtra(f"{purpose} needs the Python package {module!r}, which is not "
                           f"installed: pip install 'dcnmix[{extra}]'")


def command(name: str) -> Callable[[list[str]], int] | None:
    """A plug-in subcommand of `dcnmix` (group dcnmix.commands), or None."""
    found = _entry_points(COMMANDS)
    return found[name].load() if name in found else None


def command_names() -> tuple[str, ...]:
    return tuple(sorted(_entry_points(COMMANDS)))


def available() -> tuple[str, ...]:
    """The backends that load here (their framework package imports)."""
    ok = []
    for name in names():
        try:
            get(name)
        except ConfigError:
            continue
        ok.append(name)
    return tuple(ok)


def export_formats() -> dict[str, str]:
    """Every export format of every backend that loads here -> the backend that writes it
    (a backend module imports no framework until it works, so asking each is cheap)."""
    return {fmt: name for name in available() for fmt in get(name).export_formats}


# what a model with typed inputs trains with, in every backend: the lazy row-wise optimiser
# and the mesh's sharded steps read the ids alone
TYPED_SUPPORTS = {"embedding_optimizer": ("dense",), "mesh": (False,)}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_supported(framework: str, cfg: ModelConfig, tc: TrainConfig, *, mesh: bool = False) -> None:
    """Refuse, naming the flag, an option the backend or the model does not train with: the
    one place that reads both declarations (Backend.supports, ModelSpec.supports)."""
    from .models import spec
    asked = {**{k: getattr(tc, k) for k in TrainConfig.__dataclass_fields__}, "mesh": bool(mesh)}
    declared = [(f"the {framework} backend", get(framework).supports),
                (f"model {cfg.model}", spec(cfg.model).supports)]
    if cfg.inputs.typed:
        declared.append(("typed inputs (dense or multi-valued fields)", TYPED_SUPPORTS))
    for owner, supports in declared:
        for option, allowed in supports.items():
            if asked[option] not in allowed:
                shown = _flag(option) if option == "mesh" else f"{_flag(option)} {asked[option]}"
                raise ConfigError(option, f"{shown} is not supported by {owner} (it trains with "
                                          f"{_allowed(option, allowed)})")


def _allowed(option: str, allowed: tuple) -> str:
    if option == "mesh":
        return "one device"
    return " or ".join(f"{_flag(option)} {v}" for v in allowed)
