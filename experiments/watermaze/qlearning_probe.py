"""Would a tabular Q-learner on the agent's state make Watermaze histories that show in-context
learning within each stream? Each stream is its own learner (no shared network), as the grid
sources that AD distils well. Per setting, on the first N training platforms x S streams:
success per tenth of the episodes, and the within-stream signal AD would have to distil: after
a stream first finds the platform, the share of its next 10 episodes that find it again, and
the steps to the platform in them (against the episodes before the first find).

    PYTHONPATH=src python experiments/watermaze/qlearning_probe.py --tasks 8 \
        --set q_init=0.0 --set q_init=1.0 --json experiments/watermaze/qlearning_probe.json

The learner's table row is `Watermaze.source_cell` (position in squares of 0.2, heading in 16
sectors; `--set cell=X` tries another square) and whether the platform was already found this
episode (`reward_levels=2`).
"""

import argparse
import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from adjax import envs
from adjax.atomic import write_json
from adjax.experiments import sweep
from adjax.sources import qlearning

BASE = qlearning.Config(num_episodes=200, num_streams=16, lr=0.5, gamma=0.9, eps_start=0.05,
                        eps_end=0.05, q_init=1.0, backward_replay=True, reward_levels=2)


def coarser(env, cell: float):
    """The env with the tabular view's position squares of side `cell`."""
    if cell is None:
        return env
    cls = type("WatermazeCells", (type(env),), {"source_cell_size": np.float32(cell)})
    return cls(**{k: getattr(env, k) for k in ("height", "width")})


def probe(cfg: qlearning.Config, tasks: np.ndarray, seed: int, cell=None) -> dict:
    env, params = envs.make("watermaze", height=4, width=4)  # the source reads state
    env = coarser(env, cell)
    train = qlearning.make_train(cfg, env)
    L = env.episode_len
    keys = jax.random.split(jax.random.key(seed), len(tasks))
    t0 = time.time()
    _, hist = jax.block_until_ready(jax.jit(jax.vmap(
        lambda t, k: train(k, env.with_task(params, t))))(jnp.asarray(tasks), keys))
    seconds = time.time() - t0
    r = np.asarray(hist.rewards).reshape(len(tasks), cfg.num_streams, -1, L)  # [T, S, E, L]
    E = r.shape[2]
    hit = r.any(-1)
    steps = np.where(hit, r.argmax(-1) + 1, L)  # steps to the platform, L if not found
    rows = [{"episodes": [int(p[0]) + 1, int(p[-1]) + 1],
             "success": round(float(hit[:, :, p].mean()), 3),
             "steps_to_platform": round(float(steps[:, :, p].mean()), 1)}
            for p in np.array_split(np.arange(E), 10)]
    first = np.where(hit.any(-1), hit.argmax(-1), E)  # [T, S]
    after, after_steps, before_steps = [], [], []
    for t in range(len(tasks)):
        for s in range(cfg.num_streams):
            e = first[t, s]
            if e + 10 < E:
                after.append(hit[t, s, e + 1:e + 11].mean())
                after_steps.append(steps[t, s, e + 1:e + 11].mean())
            before_steps.append(steps[t, s, :max(e, 1)].mean())
    return {"seconds": round(seconds, 1), "env_steps": int(r.size), "by_tenth": rows,
            "first_find_episode_mean": round(float(np.mean(first + 1)), 1),
            "streams_with_10_after": len(after),
            "success_next_10_after_first_find": round(float(np.mean(after)), 3),
            "steps_next_10_after_first_find": round(float(np.mean(after_steps)), 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="F=V[,F=V]",
                    help="one setting over the base (repeat for several; '' is the base); "
                    "cell=X sets the position square of the learner's table (default 0.2)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    train_tasks, _, _ = envs.task_split("watermaze", validation=True)
    tasks = np.asarray(train_tasks[:args.tasks])
    out = {"base": dataclasses.asdict(BASE), "tasks": args.tasks, "seed": args.seed, "runs": {}}
    for setting in args.set or [""]:
        fields = [x for x in setting.split(",") if x and not x.startswith("cell=")]
        cell = [float(x[5:]) for x in setting.split(",") if x.startswith("cell=")]
        res = probe(sweep.apply(BASE, fields), tasks, args.seed, cell[0] if cell else None)
        out["runs"][setting or "base"] = res
        print(f"{setting or 'base'}: success per tenth "
              + " ".join(f"{x['success']:.2f}" for x in res["by_tenth"])
              + f"; steps {res['by_tenth'][0]['steps_to_platform']} -> "
              f"{res['by_tenth'][-1]['steps_to_platform']}; first find at episode "
              f"{res['first_find_episode_mean']}; next 10 after it: success "
              f"{res['success_next_10_after_first_find']}, steps "
              f"{res['steps_next_10_after_first_find']} ({res['seconds']} s)", flush=True)
    if args.json:
        write_json(args.json, out, indent=1)


if __name__ == "__main__":
    main()
