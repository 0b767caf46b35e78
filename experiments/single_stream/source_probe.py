"""Does A2C learn Key-to-Door within a preset's episodes, and how gradually? Mean return per
episode (over a task's actors) on the first N validation (key, door) pairs, for several settings
over the single-stream quick preset's source; read at 10k, 50k and 100k env steps of all actors
(one actor: episodes 200, 1000, 2000; the paper's Fig. 6 compares AD after 10k test-time steps
with the source after 50k) and per tenth of the episodes.

    PYTHONPATH=src python experiments/single_stream/source_probe.py --tasks 16 \
        --set lr=0.0001 --set lr=0.001 --set lr=0.003 \
        --out experiments/single_stream/source_probe.json

The Key-to-Door a3c preset's source (100 actors) was chosen with the same script:
`--set num_actors=100,num_updates=1000,lr=0.001 ... --out
experiments/a3c/key_to_door/source_probe.json`.
"""

import argparse
import dataclasses
import time

from adjax import devices

devices.use_cpu_cores()  # one CPU device per core, before anything starts JAX

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from adjax import envs  # noqa: E402
from adjax.atomic import write_json  # noqa: E402
from adjax.experiments import sweep  # noqa: E402
from adjax.sources import a2c  # noqa: E402

# the quick preset's source (adjax.experiments.single_stream.quick)
BASE = a2c.Config(num_actors=1, num_updates=2000, unroll=50, lr=3e-4)



def probe(cfg: a2c.Config, tasks: np.ndarray, seeds: int, task_batch: int | None = 1) -> dict:
    env, params = envs.make("key-to-door")
    train = a2c.make_train(cfg, env)

    def one(task, key):
        return train(key, env.with_task(params, task))[1].rewards  # [actors, steps]

    pairs = [(t, s) for s in range(seeds) for t in range(len(tasks))]
    task_arr = jnp.asarray(tasks[[t for t, _ in pairs]])
    keys = jnp.stack([jax.random.fold_in(jax.random.key(s), t) for t, s in pairs])
    t0 = time.time()
    run = jax.jit(devices.map_tasks(one, task_batch))  # the same bits as jit(vmap(one))
    rewards = jax.block_until_ready(run(task_arr, keys))
    seconds = time.time() - t0
    L = env.episode_len
    A = cfg.num_actors
    ret = np.asarray(rewards, np.float64).reshape(len(pairs), A, -1, L).sum(-1)  # [P, A, E]
    E = ret.shape[2]
    curve = ret.mean((0, 1))
    windows = {}
    for steps in (10_000, 50_000, 100_000):
        e = steps // (L * A)
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
