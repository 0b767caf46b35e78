"""Paper-style figures: return per episode against test-time env steps, mean and 95% interval."""

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from adjax.atomic import save_figure
from adjax.report.paper import PAPER_SCORES
from adjax.report.tables import TRAINED_METHODS, method_label
from adjax.stats import mean_ci, seed_curves

COLORS = {"AD": "tab:red", "ED": "tab:blue", "RL2": "tab:purple", "source": "tab:green",
          "random": "tab:gray"}


def _save(fig, path) -> Path:
    """Write `fig` to `path` as PNG atomically (temporary file, then rename) and close it."""
    fig.tight_layout()
    return save_figure(fig, path)


def plot_curves(results: dict, path: str | Path, title: str | None = None) -> Path:
    """One panel per split (e.g. held-out, train) of results["curves"]; writes a PNG to `path`."""
    splits = results["curves"]
    ep_len = int(results.get("episode_len", 1))
    fig = Figure(figsize=(5.5 * len(splits), 4))
    axes = fig.subplots(1, len(splits), squeeze=False,
                             sharey=True)
    for ax, (split, methods) in zip(axes[0], splits.items(), strict=True):
        for method, m in methods.items():
            if not isinstance(m, dict):
                continue
            runs, unit = seed_curves(m)
            mean, half = mean_ci(runs)
            steps = np.arange(1, runs.shape[1] + 1) * ep_len
            c = COLORS.get(method)
            name = (f"source: {results['source_name']}" if method == "source"
                    and results.get("source_name") else method_label(method))
            label = f"{name} ({runs.shape[0]} {unit} seeds × {m.get('num_tasks', '?')} tasks)"
            if unit == "training":  # each training seed's curve, faintly, under the mean
                for run in runs:
                    ax.plot(steps, run, color=c, lw=0.6, alpha=0.35)
            ax.plot(steps, mean, color=c, label=label, lw=1.5)
            ax.fill_between(steps, mean - half, mean + half, color=c, alpha=0.2, lw=0)
        if "optimal" in methods:
            ax.axhline(methods["optimal"], color="k", ls="--", lw=1, label="optimal")
        ax.set_title(f"{results['env']}: {split} tasks")
        ax.set_xlabel("test-time env steps")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    axes[0][0].set_ylabel("return per episode")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


SOURCE_STYLES = ("-", "--", ":", "-.")


def plot_source_steps(results: dict, path: str | Path, title: str | None = None) -> Path:
    """The paper's Fig. 4 / 6 comparison: AD and ED in context (each episode at the env steps
    it completes) and the source learning from scratch (results["source_curves"], every step of
    every actor counted) on one log env-step axis, each with its 95% interval over seeds."""
    sources = results["source_curves"]
    split = next(iter(sources.values()))["split"]
    methods = results["curves"].get(split, {})
    ep_len = int(results.get("episode_len", 1))
    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    for method in ("AD", "ED"):
        m = methods.get(method)
        if not isinstance(m, dict):
            continue
        runs, unit = seed_curves(m)
        mean, half = mean_ci(runs)
        steps = np.arange(1, runs.shape[1] + 1) * ep_len
        c = COLORS[method]
        ax.plot(steps, mean, color=c, lw=1.5,
                label=f"{method} in context ({runs.shape[0]} {unit} seeds)")
        ax.fill_between(steps, mean - half, mean + half, color=c, alpha=0.2, lw=0)
    for (name, d), ls in zip(sources.items(), SOURCE_STYLES, strict=False):
        runs = np.asarray(d["per_seed"], np.float64)
        mean, half = mean_ci(runs)
        c = COLORS["source"]
        ax.plot(d["steps"], mean, color=c, ls=ls, lw=1.5,
                label=f"{results.get('source_name', 'source')} from scratch, {name} "
                      f"({runs.shape[0]} seeds, {d['steps_consumed']:,} steps)")
        ax.fill_between(d["steps"], mean - half, mean + half, color=c, alpha=0.15, lw=0)
    if "optimal" in methods:
        ax.axhline(methods["optimal"], color="k", ls="--", lw=1, label="optimal")
    ax.set_xscale("log")
    ax.set_xlabel("env steps (the source: all its actors)")
    ax.set_ylabel("return per episode")
    ax.set_title(title or f"{results['env']}: {split} tasks, AD against its source")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="best")
    return _save(fig, path)


def plot_scores(results: dict, path: str | Path, title: str | None = None) -> Path:
    """Fig. 3 style bars: normalised score per split (results["scores"]) for AD, ED (and RL²
    where run) with their 95% intervals over seeds; the paper's scores as markers. Writes a PNG
    to `path`."""
    scores = results["scores"]
    splits = list(scores)
    methods = [m for m in TRAINED_METHODS if any(m in scores[s] for s in splits)]
    paper = PAPER_SCORES.get(results["env"], {})
    width = 0.8 / max(1, len(methods))
    fig = Figure(figsize=(1.8 * len(splits) + 2.5, 3.8))
    ax = fig.subplots()
    x = np.arange(len(splits))
    for i, method in enumerate(methods):
        mean = [scores[s].get(method, {}).get("mean", np.nan) for s in splits]
        half = [scores[s].get(method, {}).get("ci95", 0.0) for s in splits]
        pos = x + (i - (len(methods) - 1) / 2) * width
        ax.bar(pos, mean, width, yerr=half, capsize=3, color=COLORS.get(method), alpha=0.85,
               label=f"{method_label(method)} (ours)")
        ref = [paper.get(method, {}).get(s, np.nan) for s in splits]
        ax.scatter(pos, ref, marker="D", color="k", zorder=3, s=18,
                   label="paper" if i == 0 else None)
    ax.axhline(1.0, color=COLORS["source"], ls="--", lw=1, label="source (= 1)")
    ax.axhline(0.0, color=COLORS["random"], ls="-", lw=1, label="random (= 0)")
    ax.set_xticks(x, splits)
    ax.set_ylabel("normalised score")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, loc="best")
    if title:
        ax.set_title(title)
    return _save(fig, path)
