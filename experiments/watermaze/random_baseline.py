"""Success rate of a uniformly random policy on the first N Watermaze training platforms (the
floor the DQN curve is read against; no rendering, so it is cheap).

    PYTHONPATH=src python experiments/watermaze/random_baseline.py --tasks 8 --episodes 2000
"""

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np

from adjax import envs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--episodes", type=int, default=2000)
    args = ap.parse_args()
    env, params = envs.make("watermaze", height=4, width=4)  # frames unused
    tasks = envs.tasks_for("watermaze", "train", args.tasks)[0]
    L, E = env.episode_len, args.episodes

    def one(task, key):
        p = env.with_task(params, task)
        _, s = env.reset(key, p)

        def step(s, k):
            ka, ke = jax.random.split(k)
            a = jax.random.randint(ka, (), 0, env.num_actions)
            _, s, r, *_ = env.step(ke, s, a, p)
            return s, r

        _, r = jax.lax.scan(step, s, jax.random.split(key, E * L))
        return (r.reshape(E, L).sum(-1) > 0).mean()

    keys = jax.random.split(jax.random.key(0), args.tasks)
    rate = np.asarray(jax.jit(jax.vmap(one))(jnp.asarray(tasks), keys))
    print(json.dumps({"tasks": tasks.tolist(),
                      "distance_from_start": np.linalg.norm(tasks, axis=1).round(3).tolist(),
                      "random_success": rate.round(4).tolist(),
                      "random_success_mean": round(float(rate.mean()), 4)}))


if __name__ == "__main__":
    main()
