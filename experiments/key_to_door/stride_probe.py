"""Probe: should Key-to-Door's training windows start at episode starts, under the paper's queue?

The quick preset trained on windows starting at episode starts (window_stride 50), chosen before
the protocol on held-out pairs with the block refresh, whose contexts also start at an episode
start. On Dark Room Hard the same alignment made AD collapse to random under the paper's queue
(contexts of the last c steps, starting anywhere; experiments/darkroom_hard/stride_probe.json).
This probe trains AD both ways (window_stride 50 and 1, the paper's) on the preset's data with
training seed 0 and evaluates each model with both refreshes on the validation pairs only
(nothing here touches test):

    PYTHONPATH=src python experiments/key_to_door/stride_probe.py --out runs/k2d_stride_probe \
        --json experiments/key_to_door/stride_probe.json

Each model is trained exactly as the experiment trains AD seed 0 for that stride, so the chosen
one can be copied to runs/key_to_door/runs/ad/seed0 (with runs/k2d_stride_probe/data as
runs/key_to_door/data) and the experiment reuses it. Every stage is skipped when its output
exists (training resumes from its checkpoint), so a rerun continues.
"""

import argparse
import dataclasses
import sys
from pathlib import Path

from adjax.devices import use_cpu_cores

use_cpu_cores()  # one CPU device per core, as the experiment commands; before JAX starts

import numpy as np  # noqa: E402

from adjax import data  # noqa: E402
from adjax.atomic import read_json, write_json  # noqa: E402
from adjax.evaluate.results import EvalSpec, evaluate_run  # noqa: E402
from adjax.experiments import key_to_door  # noqa: E402
from adjax.experiments.common import Stages  # noqa: E402
from adjax.experiments.pipeline import Run, _collect, _trained  # noqa: E402
from adjax.stats import window_means  # noqa: E402
from adjax.train import fit  # noqa: E402

STRIDES = (50, 1)


def summary(path: Path, episodes: int) -> dict:
    r = np.asarray(read_json(path)["splits"]["val"]["curves"]["agent"]["returns"], np.float64)
    tenth = max(1, episodes // 10)
    return {"pairs": int(r.shape[0] * r.shape[1]), **window_means(r.mean(axis=0), {
        "all": slice(None), "first_10pct": slice(0, tenth),
        "last_10pct": slice(episodes - tenth, episodes)})}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--tasks", type=int, default=50, help="validation pairs (the preset's)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--episodes", type=int, default=100)
    args = ap.parse_args(argv)
    cfg = key_to_door.quick()
    run = Run(cfg, args.out, Stages(args.out), args.out / "data", True)
    _collect(run)
    learning = data.load(run.learn_dir, env=cfg.env, quiet=True)
    rows = {}
    for stride in STRIDES:
        tcfg = dataclasses.replace(cfg.train_ad, window_stride=stride)  # training seed 0
        run_dir = args.out / f"ad_stride{stride}"
        run.stages.run(f"train AD stride {stride}",
                       lambda t=tcfg, r=run_dir: fit(t, cfg.model, learning, r),
                       done=_trained(run_dir, tcfg.num_steps))
        for mode, refresh in (("block", None), ("queue", 1)):
            path = args.out / f"stride{stride}_{mode}.json"
            spec = EvalSpec(env=cfg.env, env_kwargs=cfg.env_kwargs, splits=("val",),
                            num_episodes=args.episodes, num_seeds=args.seeds,
                            num_tasks=args.tasks, refresh_every=refresh, baselines=())
            run.stages.run(f"evaluate stride {stride} {mode}", lambda p=path, s=spec, r=run_dir:
                           evaluate_run(r, p, s, batch_size=cfg.eval.batch_size, figure=False),
                           done=path.exists())
            rows[f"stride{stride} {mode}"] = summary(path, args.episodes)
            print(f"stride {stride} {mode}: {rows[f'stride{stride} {mode}']}", flush=True)
    write_json(args.json, {"command": "PYTHONPATH=src python experiments/key_to_door/"
                           "stride_probe.py " + " ".join(argv or sys.argv[1:]),
                           "split": "val", "temperature": 1.0, "num_tasks": args.tasks,
                           "num_seeds": args.seeds, "num_episodes": args.episodes,
                           "train_steps": cfg.train_ad.num_steps, "rows": rows})


if __name__ == "__main__":
    main()
