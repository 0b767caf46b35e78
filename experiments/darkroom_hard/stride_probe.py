"""Probe: does the Hard quick preset's AD depend on contexts starting at episode starts?

The held-out refresh check of training seed 0 gave 0.37 with the block refresh (contexts start at
an episode start, as the preset's training windows do: window_stride 20) and 0.07 with the
paper's queue (the last 160 steps before every action, starting anywhere). This probe trains the
same AD with windows starting at any step (window_stride 1, the paper's) on the same data, and
evaluates both models both ways on the validation goals only (nothing here touches test):

    PYTHONPATH=src python experiments/darkroom_hard/stride_probe.py --base runs/darkroom_hard \
        --out runs/hard_stride_probe --json experiments/darkroom_hard/stride_probe.json

A third model (stride 1 with `ModelConfig.episode_marker`: every episode's first step reads
previous action "none" and reward 0) tests whether marking episode starts gives a model trained
on windows starting anywhere what the aligned windows gave, under either refresh. A fourth
(stride 1, 3000 training steps instead of the preset's 1500) tests whether windows starting
anywhere, 20 phases of every aligned one, just need more training.

--base: a finished `python -m adjax.experiments.darkroom_hard --seeds 1` run (its data). Each
model is the quick preset's AD seed 0 with that variant's window stride and marker, trained into
OUT/ad_NAME unless its evaluations exist (the first run of this probe evaluated the stride-20
preset's own AD, since replaced by the stride-1 preset's). Each stage is skipped when its output
exists, so a rerun continues.
"""

import argparse
import dataclasses
import json
from pathlib import Path

from adjax.devices import use_cpu_cores

use_cpu_cores()  # one CPU device per core, as the experiment commands; before JAX starts

import numpy as np  # noqa: E402

from adjax import data  # noqa: E402
from adjax.atomic import read_json, write_json  # noqa: E402
from adjax.evaluate.results import EvalSpec, evaluate_run  # noqa: E402
from adjax.experiments import darkroom_hard  # noqa: E402
from adjax.stats import window_means  # noqa: E402
from adjax.train import fit  # noqa: E402


def summary(path: Path) -> dict:
    r = np.asarray(read_json(path)["splits"]["val"]["curves"]["agent"]["returns"], np.float64)
    return {"pairs": int(r.shape[0] * r.shape[1]), **window_means(r.mean(axis=0), {
        "all": slice(None), "episodes_1_20": slice(0, 20), "episodes_181_200": slice(180, 200)})}


# name: (window_stride, episode_marker, training steps or None for the preset's); the names are
# the run directories' and rows' (ad_NAME)
VARIANTS = {"stride20": (20, False, None), "stride1": (1, False, None),
            "stride1_marker": (1, True, None), "stride1_3000": (1, False, 3000)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--episodes", type=int, default=200)
    args = ap.parse_args(argv)
    cfg = darkroom_hard.quick()
    rows = {}
    for name, (stride, marker, steps) in VARIANTS.items():
        run_dir = args.out / f"ad_{name}"
        paths = {mode: args.out / f"{name}_{mode}.json" for mode in ("block", "queue")}
        if not all(p.exists() for p in paths.values()):
            fit(dataclasses.replace(cfg.train_ad, window_stride=stride,
                                    num_steps=steps or cfg.train_ad.num_steps),
                dataclasses.replace(cfg.model, episode_marker=marker),
                data.load(args.base / "data" / "learning", env=cfg.env, quiet=True), run_dir)
        for mode, refresh in (("block", None), ("queue", 1)):
            if not paths[mode].exists():
                spec = EvalSpec(env=cfg.env, splits=("val",), num_episodes=args.episodes,
                                num_seeds=args.seeds, refresh_every=refresh, baselines=())
                evaluate_run(run_dir, paths[mode], spec, figure=False)
            rows[f"{name} {mode}"] = summary(paths[mode])
            print(name, mode, json.dumps(rows[f"{name} {mode}"]), flush=True)
    write_json(args.json, {"command": "PYTHONPATH=src python experiments/darkroom_hard/"
                           "stride_probe.py " + " ".join(argv or __import__("sys").argv[1:]),
                           "split": "val", "temperature": 1.0, "num_seeds": args.seeds,
                           "num_episodes": args.episodes, "rows": rows})


if __name__ == "__main__":
    main()
