"""Toy check of RL²'s memory path: can our trainer learn *anything* in context?

By default a 3 x 3 Dark Room (start at the centre, 8 possible goals one or two steps away),
episodes of 6 steps, trials of 2 episodes: an agent that remembers where episode 1 found the
reward walks straight there in episode 2, so episode 2's return should clearly beat episode 1's.
If it does not after a few minutes of training, something in the memory path (inputs, state
carried across episodes, the loss's replay) is broken; if it does, Dark Room's miss is one of
scale.

    PYTHONPATH=src python experiments/rl2_darkroom/memory_toy.py --out runs/rl2_memory_toy \
        --json experiments/rl2_darkroom/memory_toy.json [--set algo=ppo ...]

The training metrics' return per episode of the trial (mean over the last 10% of updates) is
what is reported; every goal of the room is a training goal (no held-out question here).
--size / --episode-len / --episodes make larger rooms and trials, between the toy and Dark Room.
"""

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from adjax import envs, rl2
from adjax.atomic import write_json
from adjax.experiments.sweep import apply


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--updates", type=int, default=600)
    ap.add_argument("--size", type=int, default=3, help="room side (odd: the start is central)")
    ap.add_argument("--episode-len", type=int, default=6)
    ap.add_argument("--episodes", type=int, default=2, help="episodes per trial")
    ap.add_argument("--set", nargs="*", default=[], help="rl2.Config fields (FIELD=VALUE)")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the 1-episode trials (their return does not depend on --set "
                         "much; half the cost)")
    args = ap.parse_args(argv)
    W, c = args.size, args.size // 2
    env, _ = envs.make("darkroom", size=W, episode_len=args.episode_len)
    pool = np.array([[x, y] for x in range(W) for y in range(W) if (x, y) != (c, c)], np.int32)
    cfg = rl2.Config(env="darkroom", hidden=(64, 64), num_trials=64,
                     episodes_per_trial=args.episodes, unroll=args.episodes * args.episode_len,
                     num_updates=args.updates, lr=1e-3, log_every=25, ckpt_every=args.updates)
    cfg = apply(cfg, args.set)
    runs = {}
    variants = [(f"{cfg.episodes_per_trial} episodes", cfg)]
    if not args.no_baseline:
        variants.append(("1 episode (no memory to use)", dataclasses.replace(
            cfg, episodes_per_trial=1, unroll=args.episode_len)))
    for name, one in variants:
        out = args.out / name.split(" ")[0]
        rl2.fit(one, out, env=env, pool=pool, progress=False)
        rows = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
        last = rows[-max(1, len(rows) // 10):]
        per_ep = np.mean([r["return_by_episode"] for r in last], axis=0)
        runs[name] = {"return_by_episode_last_10pct": np.round(per_ep, 3).tolist(),
                      "first_log": rows[0]["return_by_episode"]}
        print(name, runs[name], flush=True)
    write_json(args.json, {"command": "PYTHONPATH=src python experiments/rl2_darkroom/"
                           "memory_toy.py " + " ".join(argv or sys.argv[1:]),
                           "config": cfg.to_dict(), "env": env.config(),
                           "goals": pool.tolist(), "runs": runs})


if __name__ == "__main__":
    main()
