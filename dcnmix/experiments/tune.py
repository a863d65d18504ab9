"""`dcnmix tune`: search the options within a time budget (optuna's TPE sampler, median
pruning per epoch), choosing by validation AUC only:

    dcnmix tune --dataset frappe --budget-minutes 10 --out tune/frappe

    OUT/study.db          the optuna study (sqlite): every trial, its options and epochs
    OUT/trials/trial-N/   a run folder per trial (no test metrics)
    OUT/trials.csv        one row per trial: state, validation AUC, epochs, seconds, options
    OUT/best/             an ordinary run folder: the best trial's, its test metrics computed
                          once, at the end

The other flags are `dcnmix train`'s: the base every trial starts from (defaults here:
--patience 3, --epochs 30). Resumable: run the same command again; a trial cut by the budget
or by a kill continues in its own folder, and the budget counts the time already spent. A
trial stops at the first epoch end past the budget. Needs `pip install 'dcnmix[tune]'`.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import time

from ..flags import positive_int
from . import space as spaces
from ..run import as_recorded
from .options import cell_args, logging_hooks, run_configs, train_parser

STUDY = "dcnmix-tune"


class OutOfTime(Exception):
    """The budget is spent: the trial stops at this epoch end (and continues on resume)."""


def add_arguments(p) -> None:
    from ..cli import add_train_arguments
    add_train_arguments(p)
    p.set_defaults(out=None, patience=3, epochs=30)
    g = p.add_argument_group("search (docs/experiments.md)")
    g.add_argument("--budget-minutes", type=float, default=None, metavar="N",
                   help="stop after this much time in all (resumed runs count what was spent)")
    g.add_argument("--trials", type=positive_int, default=None, metavar="N",
                   help="stop after N trials in all (with or without a budget)")
    g.add_argument("--space", default=None, metavar="FILE",
                   help="the search space (JSON; default: the documented one, --print-space)")
    g.add_argument("--print-space", action="store_true", help="print the default space and exit")


def run(args) -> int:
    if args.print_space:
        print(json.dumps(spaces.DEFAULT_SPACE, indent=2))
        return 0
    if args.out is None or (args.budget_minutes is None and args.trials is None):
        raise ValueError("dcnmix tune needs --out DIR and --budget-minutes N (or --trials N)")
    if args.budget_minutes is not None and not args.budget_minutes > 0:
        raise ValueError(f"--budget-minutes must be > 0, got {args.budget_minutes}")
    from ..cli import check_logging
    check_logging(args)
    optuna = _optuna()
    t0 = time.monotonic()
    parser = train_parser()
    space = spaces.load(args.space)
    spaces.check(space, parser, args.space or "the default space")
    os.makedirs(args.out, exist_ok=True)
    study = open_study(optuna, args, space)
    budget = Budget(study, args.budget_minutes, t0)
    splits, spec = _data(args)
    while budget.left() > 0 and (args.trials is None or _count(study) < args.trials):
        one_trial(optuna, study, args, space, parser, splits, spec, budget)
        write_trials(study, os.path.join(args.out, "trials.csv"))
    budget.save()
    return finish(study, args, splits, spec, budget)


def _optuna():
    from ..tracking import need
    optuna = need("optuna", extra="tune", purpose="dcnmix tune")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _data(args):
    from ..cli import data_spec
    from ..loop import use_compilation_cache
    use_compilation_cache(args.framework, args.compilation_cache, log=lambda *_: None)
    spec = data_spec(args)
    return spec.load(log=lambda *_: None), spec


def open_study(optuna, args, space: dict):
    """The study in OUT/study.db, new or resumed. A resumed one must have the same space and
    base options; its trials cut short (by the budget, or by a kill: still RUNNING) are put
    back in the queue with their folders, so they continue where they stopped."""
    storage = f"sqlite:///{os.path.abspath(os.path.join(args.out, 'study.db'))}"
    study = optuna.create_study(
        study_name=STUDY, storage=storage, direction="maximize", load_if_exists=True,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2))
    # seeded by the trials so far: a resumed study does not draw its first draws again
    study.sampler = optuna.samplers.TPESampler(seed=args.seed + len(study.trials),
                                               n_startup_trials=5)
    setup = {"space": space, "base": _base(args)}
    recorded = study.user_attrs.get("setup")
    if recorded is None:
        study.set_user_attr("setup", setup)
        study.enqueue_trial(spaces.first_trial(space))
    elif recorded != as_recorded(setup):
        raise ValueError(f"{args.out}: holds a study with another search space or base options "
                         "(the same command resumes it; another --out starts a new one)")
    requeued = list(study.user_attrs.get("requeued", []))
    for trial in study.get_trials(deepcopy=False):
        running = trial.state == optuna.trial.TrialState.RUNNING
        if (running or trial.user_attrs.get("stopped")) and trial.number not in requeued:
            _requeue(optuna, study, trial, running=running)
            requeued.append(trial.number)
    study.set_user_attr("requeued", requeued)
    return study


def _base(args) -> dict:
    """The options every trial starts from (what must match when a study resumes)."""
    keep = ("budget_minutes", "trials", "out", "resume", "overwrite", "no_progress", "threads",
            "compilation_cache", "print_space", "space", "tensorboard", "log_every")
    return {k: list(v) if isinstance(v, tuple) else v
            for k, v in sorted(vars(args).items()) if k not in keep}


def _requeue(optuna, study, trial, *, running: bool) -> None:
    """Queue a cut-short trial's options again, with its folder (a RUNNING one is marked
    failed: its process is gone, as open_study runs before any trial of this process)."""
    if running:
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    study.enqueue_trial(trial.params, user_attrs={"folder": trial.user_attrs["folder"],
                                                  "continues": trial.number})


class Budget:
    """The time left: the budget less what this study spent before (study attr seconds)."""

    def __init__(self, study, minutes: float | None, t0: float):
        self.study, self.t0 = study, t0
        self.before = float(study.user_attrs.get("seconds", 0.0))
        self.total = None if minutes is None else minutes * 60

    def spent(self) -> float:
        return self.before + time.monotonic() - self.t0

    def left(self) -> float:
        return float("inf") if self.total is None else self.total - self.spent()

    def save(self) -> None:
        self.study.set_user_attr("seconds", self.spent())


class Watch:
    """A trial's hook (dcnmix.tracking): reports each epoch's validation AUC to optuna,
    prunes, and stops the trial once the budget is spent."""

    def __init__(self, optuna, trial, budget: Budget):
        self.optuna, self.trial, self.budget = optuna, trial, budget

    def start(self, *, progress, **_) -> None:
        """A continued trial starts from its folder's best so far."""
        if progress.history:
            self.trial.set_user_attr("val_auc", progress.best["auc"])
            self.trial.set_user_attr("epochs", progress.epochs_done)

    def epoch(self, row: dict) -> None:
        self.trial.report(row["val_auc"], row["epoch"])
        best = max(row["val_auc"], self.trial.user_attrs.get("val_auc", -1.0))
        self.trial.set_user_attr("val_auc", best)
        self.trial.set_user_attr("epochs", row["epoch"])
        self.budget.save()
        if self.budget.left() <= 0:
            raise OutOfTime
        if self.trial.should_prune():
            raise self.optuna.TrialPruned


def one_trial(optuna, study, args, space, parser, splits, spec, budget: Budget) -> None:
    """Ask for a trial, train it (test=False), tell optuna how it ended."""
    from ..loop import TrainingError
    trial = study.ask()
    folder = trial.user_attrs.get("folder") or os.path.abspath(
        os.path.join(args.out, "trials", f"trial-{trial.number:04d}"))
    trial.set_user_attr("folder", folder)
    ns = cell_args(args, {**spaces.suggest(trial, space, parser, "the space"), "out": folder})
    t0 = time.monotonic()
    state, value = optuna.trial.TrialState.PRUNED, None
    try:
        cfg, tc = run_configs(ns, splits)
        summary = _fit(cfg, tc, splits, ns, spec,
                       hooks=[Watch(optuna, trial, budget), *logging_hooks(ns)])
        state, value = optuna.trial.TrialState.COMPLETE, summary["val_auc"]
        trial.set_user_attr("val_auc", summary["val_auc"])
    except OutOfTime:
        trial.set_user_attr("stopped", "budget")
    except optuna.TrialPruned:
        pass
    except (TrainingError, ValueError) as exc:      # diverged, or options the model refuses
        trial.set_user_attr("error", str(exc)[:500])
        state = optuna.trial.TrialState.FAIL
    trial.set_user_attr("seconds", trial.user_attrs.get("seconds", 0) + time.monotonic() - t0)
    study.tell(trial, value, state=state)
    ended = "cut by the budget" if trial.user_attrs.get("stopped") else state.name.lower()
    print(f"trial {trial.number}: {ended}, val AUC "
          f"{trial.user_attrs.get('val_auc', float('nan')):.5f} after "
          f"{trial.user_attrs.get('epochs', 0)} epochs ({budget.spent() / 60:.1f} min spent)",
          flush=True)


def _fit(cfg, tc, splits, ns, spec, *, hooks, test: bool = False) -> dict:
    from ..loop import fit
    return fit(cfg, tc, splits, ns.out, framework=ns.framework, resume=True, progress=False,
               log=lambda *_: None, data=spec, hooks=hooks, test=test, log_every=ns.log_every)


def _count(study) -> int:
    """Trials done, those cut short and continued by another not counted."""
    requeued = set(study.user_attrs.get("requeued", []))
    return sum(1 for t in study.get_trials(deepcopy=False) if t.state.is_finished()
               and not t.user_attrs.get("stopped") and t.number not in requeued)


def write_trials(study, path: str) -> None:
    """OUT/trials.csv: one row per trial (written whole each time, then renamed)."""
    from ..files import writing
    trials = study.get_trials(deepcopy=False)
    names = sorted({k for t in trials for k in t.params})
    with writing(path, "w") as fh:
        out = csv.writer(fh)
        out.writerow(["trial", "state", "val_auc", "epochs", "seconds", *names, "folder",
                      "continues", "error"])
        for t in trials:
            a = t.user_attrs
            out.writerow([t.number, t.state.name.lower() if not a.get("stopped") else "cut",
                          a.get("val_auc", ""), a.get("epochs", ""),
                          f"{a.get('seconds', 0):.1f}", *[t.params.get(n, "") for n in names],
                          a.get("folder", ""), a.get("continues", ""), a.get("error", "")])


def best_trial(study):
    """The trial with the highest validation AUC (complete, pruned or cut: its best weights
    are the run folder's best.safetensors either way)."""
    scored = [t for t in study.get_trials(deepcopy=False) if "val_auc" in t.user_attrs
              and os.path.exists(os.path.join(t.user_attrs["folder"], "best.safetensors"))]
    if not scored:
        raise ValueError("no trial finished an epoch within the budget: give more "
                         "--budget-minutes")
    return max(scored, key=lambda t: t.user_attrs["val_auc"])


def finish(study, args, splits, spec, budget: Budget) -> int:
    """OUT/best: the best trial's run folder, copied, with its test metrics (computed here,
    once) in its summary.json."""
    trial = best_trial(study)
    target = os.path.join(args.out, "best")
    ns = cell_args(args, {**spaces.suggest(_Fixed(trial.params), study.user_attrs["setup"]
                                           ["space"], train_parser(), "the space"),
                          "out": target})
    cfg, tc = run_configs(ns, splits)
    copy_run(trial.user_attrs["folder"], target)
    done = int(trial.user_attrs.get("epochs", tc.epochs))
    if not os.path.exists(os.path.join(trial.user_attrs["folder"], "summary.json")):
        import dataclasses
        tc = dataclasses.replace(tc, epochs=max(1, done))     # cut short: no more epochs
    summary = _fit(cfg, tc, splits, ns, spec, hooks=(), test=True)
    budget.save()
    print(f"best: trial {trial.number}, val AUC {summary['val_auc']:.5f}, test AUC "
          f"{summary['test_auc']:.5f}, test logloss {summary['test_logloss']:.5f} "
          f"({len(study.trials)} trials, {budget.spent() / 60:.1f} min) -> {target}")
    return 0


class _Fixed:
    """A trial stand-in that returns recorded parameters (to rebuild a trial's options)."""

    def __init__(self, params: dict):
        self.params = params

    def suggest_categorical(self, name, choices):
        return self.params[name]

    def suggest_int(self, name, low, high, log=False):
        return self.params[name]

    suggest_float = suggest_int


def copy_run(source: str, target: str) -> None:
    """A copy of run folder `source` (not its lock) in the place of `target`, swapped in whole."""
    from ..files import TMP_PREFIX, swap_in
    tmp = os.path.join(os.path.dirname(os.path.abspath(target)), TMP_PREFIX + "best")
    if os.path.lexists(tmp):
        shutil.rmtree(tmp)
    shutil.copytree(source, tmp, symlinks=True, ignore=shutil.ignore_patterns(".lock"))
    swap_in(tmp, target)
