"""Experiments over run folders (docs/experiments.md), framework-free:

    runs    one row per run folder (records of summary.json / checkpoint/run.json / failed.json)
    plot    learning curves of runs (matplotlib, headless)
    sweep   a grid of options, each cell a run folder (the seed's order x structure grid)
    tune    a search within a time budget (optuna), chosen by validation AUC

Each command module has add_arguments(parser) and run(args) (dcnmix.cli reads them).
"""
