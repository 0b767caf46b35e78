"""Paper-style figures: return per episode against test-time env steps, mean and 95% interval."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from adjax.report.stats import mean_ci  # noqa: E402

COLORS = {"AD": "tab:red", "ED": "tab:blue", "source": "tab:green", "random": "tab:gray"}


def plot_curves(results: dict, path: str | Path, title: str | None = None) -> Path:
    """One panel per split (e.g. held-out, train) of results["curves"]; writes a PNG to `path`."""
    splits = results["curves"]
    ep_len = int(results.get("episode_len", 1))
    fig, axes = plt.subplots(1, len(splits), figsize=(5.5 * len(splits), 4), squeeze=False,
                             sharey=True)
    for ax, (split, methods) in zip(axes[0], splits.items(), strict=True):
        for method, m in methods.items():
            if not isinstance(m, dict):
                continue
            per_seed = np.asarray(m["per_seed"], dtype=np.float64)
            mean, half = mean_ci(per_seed)
            steps = np.arange(1, per_seed.shape[1] + 1) * ep_len
            c = COLORS.get(method)
            label = f"{method} ({per_seed.shape[0]} seeds × {m.get('num_tasks', '?')} tasks)"
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
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path
