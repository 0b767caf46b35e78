"""How sharp does the quick preset's A2C-on-state source become? Success and steps to the
platform per 10% of its updates, and the entropy of its actions before the platform is found
(after it, the reward is spent and every action is equally good), for several settings on the
first N training platforms (frames unused, so it is cheap).

    PYTHONPATH=src python experiments/watermaze/source_probe.py --tasks 8 \
        --set lr=0.001 --set lr=0.003,gamma=0.9 --out experiments/watermaze/source_probe.json
"""

import argparse
import dataclasses
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from adjax import envs
from adjax.experiments import sweep
from adjax.sources import a2c



def entropy_nats(actions: np.ndarray, num_actions: int) -> float:
    p = np.bincount(actions.ravel(), minlength=num_actions) / max(actions.size, 1)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def probe(cfg: a2c.Config, tasks: np.ndarray, seed: int) -> dict:
    env, params = envs.make("watermaze", height=4, width=4)  # the source reads state, not frames
    train = a2c.make_train(cfg, env)
    net = a2c.ActorCritic(env.num_actions, cfg.hidden)
    features = a2c.observer(env).features
    L = env.episode_len

    def one(task, key):
        state, hist = train(key, env.with_task(params, task))
        # The final policy's own entropy on the states of its last episode (per actor and step).
        logits, _ = net.apply(state.params, jax.vmap(jax.vmap(features))(hist.obs[:, -L:]))
        logp = jax.nn.log_softmax(logits)
        return hist, -(jnp.exp(logp) * logp).sum(-1)

    keys = jax.random.split(jax.random.key(seed), len(tasks))
    t0 = time.time()
    hist, final_entropy = jax.block_until_ready(jax.jit(jax.vmap(one))(jnp.asarray(tasks), keys))
    seconds = time.time() - t0
    r = np.asarray(hist.rewards).reshape(len(tasks), cfg.num_actors, -1, L)  # [T, N, E, L]
    a = np.asarray(hist.actions).reshape(r.shape)
    found_at = np.where(r.any(-1), r.argmax(-1), L)  # the step of the reward, L if never
    before = np.arange(L) <= found_at[..., None]  # actions up to and including the finding one
    E = r.shape[2]
    parts = np.array_split(np.arange(E), 10)
    rows = []
    for part in parts:
        rows.append({
            "episodes": [int(part[0]) + 1, int(part[-1]) + 1],
            "success": round(float(r[:, :, part].any(-1).mean()), 3),
            "steps_to_platform": round(float(found_at[:, :, part].mean()), 1),
            "entropy_before_found": round(entropy_nats(a[:, :, part][before[:, :, part]], 8), 3),
        })
    last = before[:, :, -1]  # the last episode's steps up to the finding one
    return {"final_policy_entropy_before_found": round(float(np.asarray(final_entropy)[last].mean()), 3),
            "config": {k: v for k, v in dataclasses.asdict(cfg).items()
                       if not isinstance(v, tuple)}, "seconds": round(seconds, 1),
            "per_tenth": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[],
                    help="a2c.Config changes over the quick preset's source, e.g. lr=0.003")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    base = a2c.Config(num_actors=16, num_updates=100, unroll=50, lr=1e-3)
    tasks = envs.tasks_for("watermaze", "train", args.tasks)[0]
    results = []
    for text in args.set or [""]:
        res = probe(sweep.apply(base, filter(None, text.split(","))), tasks, args.seed)
        res["set"] = text
        results.append(res)
        last = res["per_tenth"][-1]
        print(f"{text or 'quick preset'}: {res['seconds']} s; success "
              f"{[row['success'] for row in res['per_tenth']]}; last tenth: "
              f"{last['steps_to_platform']} steps, entropy {last['entropy_before_found']}; "
              f"final policy's entropy {res['final_policy_entropy_before_found']}",
              flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"tasks": args.tasks, "seed": args.seed, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
