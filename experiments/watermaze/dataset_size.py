"""Size on disk of a Watermaze dataset of 1000 histories x 100 episodes (target <= 100 MB).

    PYTHONPATH=src python experiments/watermaze/dataset_size.py --out /tmp/wm_size

Collects it with `adjax.data.collect` (format 2: renderer state, not frames) from a uniformly
random policy registered for this run only (the size depends on the shapes, not on the policy;
no learner has to run for an hour): 100 training platforms x 10 streams x 5000 steps at 24x32.
Prints the bytes of every file and the total, and removes the dataset unless --keep.
"""

import argparse
import dataclasses
import shutil
import time
import types
from pathlib import Path
from typing import ClassVar

import jax
import jax.numpy as jnp

from adjax import envs, sources
from adjax.data import CollectSpec, collect, load
from adjax.sources.common import History


@dataclasses.dataclass(frozen=True)
class RandomConfig:
    NAME: ClassVar[str] = "uniform-random"
    num_streams: int = 10
    num_episodes: int = 100


def make_train(cfg, env):
    S, T = cfg.num_streams, cfg.num_episodes * env.episode_len

    def train(key, env_params):
        k_reset, k_act, k_env = jax.random.split(key, 3)
        _, state = jax.vmap(env.reset, (0, None))(jax.random.split(k_reset, S), env_params)

        def step(state, x):
            ka, ke = x
            a = jax.random.randint(ka, (S,), 0, env.num_actions)
            _, state2, r, *_ = jax.vmap(env.step, (0, 0, 0, None))(
                jax.random.split(ke, S), state, a, env_params)
            return state2, (jax.vmap(env.stored_obs)(state), a, r)

        _, (o, a, r) = jax.lax.scan(step, state, (jax.random.split(k_act, T),
                                                  jax.random.split(k_env, T)))
        sw = lambda x: jnp.swapaxes(x, 0, 1)  # noqa: E731
        return None, History(obs=sw(o), actions=sw(a), rewards=sw(r))

    return train


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    sources.SOURCES[RandomConfig.NAME] = types.SimpleNamespace(Config=RandomConfig,
                                                                make_train=make_train)
    env, _ = envs.make("watermaze", height=24, width=32)
    t0 = time.time()
    path = collect(CollectSpec(RandomConfig(), env, task_indices=range(100)),
                   Path(args.out) / "wm1000", chunk_size=10, progress=False, plot=False,
                   overwrite=True)
    ds = load(path)
    sizes = {f.name: f.stat().st_size for f in sorted(path.iterdir())}
    for name, n in sizes.items():
        print(f"{name:20s} {n:>12,d}")
    total = sum(sizes.values())
    print(f"{ds.num_histories} histories x {ds.num_episodes} episodes x {ds.episode_len} steps: "
          f"{total:,d} bytes = {total / 1e6:.1f} MB ({time.time() - t0:.0f} s)")
    if not args.keep:
        shutil.rmtree(path)


if __name__ == "__main__":
    main()
