"""The numbers NOTES.md quotes from an RL² evaluation (`adjax.rl2.evaluate`'s results.json): per
split and method, the mean return in the trial's first and last episode and over the trial, and
the share of (goal, evaluation seed) trials that ever reached the goal; and, from a training.json
beside it, the training return per logged update.

    python experiments/rl2_darkroom/summarize.py experiments/rl2_darkroom/unroll_trial \
        experiments/rl2_darkroom/unroll_trial/results_update3000.json

A folder: its results.json and training.json; a file: that evaluation alone.
"""

import sys
from pathlib import Path

import numpy as np

from adjax.atomic import read_json


def summarize(path: Path) -> None:
    folder = path if path.is_dir() else None
    res = read_json(path / "results.json" if folder else path)
    for split, v in res["splits"].items():
        for method, c in v["curves"].items():
            r = np.asarray(c["returns"], np.float64)  # [tasks, seeds, episodes]
            ep = r.mean((0, 1))
            print(f"{split:5s} {method:7s} episode 1 {ep[0]:.2f}, episode {len(ep)} {ep[-1]:.2f}, "
                  f"trial mean {r.mean():.2f}, trials that found the goal "
                  f"{(r.sum(-1) > 0).mean():.2f} ({r.shape[0]} goals x {r.shape[1]} seeds)")
    if folder and (folder / "training.json").exists():
        rows = read_json(folder / "training.json")["rows"]
        print("training return per episode (update, env steps, return, first -> last episode):")
        for row in rows[:: max(1, len(rows) // 10)] + rows[-1:]:
            eps = row["return_by_episode"]
            print(f"  {row['update']:6d} {row['env_steps']:11,d} {row['return']:.2f} "
                  f"{eps[0]:.2f} -> {eps[-1]:.2f}")


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["experiments/rl2_darkroom"]:
        print(arg)
        summarize(Path(arg))
