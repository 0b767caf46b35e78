"""Redraw OUT/curve.png from OUT/curve.json (dqn_cpu.py) with the random policy's success on the
same platforms (random_baseline.py's JSON) as the floor.

    PYTHONPATH=src python experiments/watermaze/plot_curve.py experiments/watermaze/dqn_cpu \
        experiments/watermaze/random_baseline.json
"""

import json
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from adjax.atomic import save_figure


def main(out: str, random_json: str) -> None:
    d = json.loads((Path(out) / "curve.json").read_text())
    rnd = json.loads(Path(random_json).read_text())
    mean, per_task = np.asarray(d["success_mean"]), np.asarray(d["success_per_task"])
    E = len(mean)
    fig = Figure(figsize=(6.5, 3.8))
    ax = fig.subplots()
    x = np.arange(E) + 1
    for row in per_task:
        ax.plot(x, row, lw=0.5, alpha=0.35, c="gray")
    ax.plot(x, mean, lw=1.8, c="C0", label=f"DQN, mean over {len(per_task)} platforms")
    k = 5
    if E >= k:
        ax.plot(x[k - 1:], np.convolve(mean, np.ones(k) / k, "valid"), lw=1, c="C1",
                label=f"{k}-episode moving mean")
    ax.axhline(rnd["random_success_mean"], ls=":", c="C3", lw=1.2,
               label=f"uniform random policy ({rnd['random_success_mean']:.2f})")
    ax.axhline(0.8, ls="--", c="k", lw=0.8, label="target 0.8")
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"episode of each actor ({d['num_actors']} actors per platform)")
    ax.set_ylabel("success (platform reached)")
    ax.set_title(f"DQN Q(lambda) on Watermaze {d['height']}x{d['width']}, {d['updates']} updates "
                 f"per platform, {d['wall_seconds'] / 60:.0f} min on a shared CPU", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    save_figure(fig, Path(out) / "curve.png")


if __name__ == "__main__":
    main(*sys.argv[1:3])
