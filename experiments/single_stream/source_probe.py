"""Does single-stream A2C learn Key-to-Door within the quick preset's 2000 episodes, and how
gradually? Return per episode of one actor per task, on the first N validation (key, door) pairs,
for several settings; read at 10k, 50k and 100k env steps (episodes 200, 1000, 2000: the paper's
Fig. 6 compares AD after 10k test-time steps with the source after 50k).

    PYTHONPATH=src python experiments/single_stream/source_probe.py --tasks 16 \
        --set lr=0.0001 --set lr=0.001 --set lr=0.003 \
        --out experiments/single_stream/source_probe.json
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
from adjax.sources import a2c

# the quick preset's source (adjax.experiments.single_stream.quick)
BASE = a2c.Config(num_actors=1, num_updates=2000, unroll=50, lr=1e-3)



def probe(cfg: a2c.Config, tasks: np.ndarray, seeds: int) -> dict:
    env, params = envs.make("key-to-door")
    train = a2c.make_train(cfg, env)

    def one(task, key):
        return train(key, env.with_task(params, task))[1].rewards  # [actors, steps]

    pairs = [(t, s) for s in range(seeds) for t in range(len(tasks))]
    task_arr = jnp.asarray(tasks[[t for t, _ in pairs]])
    keys = jnp.stack([jax.random.fold_in(jax.random.key(s), t) for t, s in pairs])
    t0 = time.time()
    rewards = jax.block_until_ready(jax.jit(jax.vmap(one))(task_arr, keys))
    seconds = time.time() - t0
    L = env.episode_len
    ret = np.asarray(rewards, np.float64).reshape(len(pairs), -1, L).sum(-1)  # [pairs, episodes]
    E = ret.shape[1]
    curve = ret.mean(0)
    windows = {}
    for steps in (10_000, 50_000, 100_000):
        e = steps // L
        if e <= E:
            lo = max(0, e - E // 20)  # the 5% of the episodes before it
            windows[f"{steps}"] = round(float(curve[lo:e].mean()), 3)
    tenths = [round(float(part.mean()), 3) for part in np.array_split(curve, 10)]
    return {"config": {k: v for k, v in dataclasses.asdict(cfg).items()
                       if not isinstance(v, tuple)},
            "seconds": round(seconds, 1), "pairs": len(pairs),
            "return_before_env_steps": windows, "per_tenth": tenths}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=16, help="first N validation pairs")
    ap.add_argument("--seeds", type=int, default=1, help="source seeds per pair")
    ap.add_argument("--set", action="append", default=[],
                    help="a2c.Config changes over the quick preset's source, e.g. lr=0.003")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    tasks = envs.tasks_for("key-to-door", "val", args.tasks)[0]
    results = []
    for text in args.set or [""]:
        res = probe(sweep.apply(BASE, filter(None, text.split(","))), tasks, args.seeds)
        res["set"] = text
        results.append(res)
        print(f"{text or 'quick preset'}: {res['seconds']} s; return per tenth of the episodes "
              f"{res['per_tenth']}; before 10k / 50k / 100k env steps "
              f"{res['return_before_env_steps']}", flush=True)
    if args.out:
        write_json(args.out, {"split": "val", "tasks": args.tasks, "seeds": args.seeds,
                              "results": results}, indent=1)


if __name__ == "__main__":
    main()
