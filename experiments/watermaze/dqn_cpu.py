"""The DQN (Q(lambda)) source learning Watermaze on CPU: success per episode on training platforms.

    PYTHONPATH=src python experiments/watermaze/dqn_cpu.py --tasks 8 --episodes 100 \
        --out experiments/watermaze/dqn_cpu

Runs `adjax.sources.dqn` (`cpu_config()` unless --set overrides) on the first --tasks training
platforms at --height x --width, vmapped over platforms, in segments of --segment episodes (the
same learner continued; one compiled segment), and after each segment writes
OUT/curve.json (success rate per episode: fraction of the actors' episodes that reached the
platform, mean over platforms, and per platform) and OUT/curve.png, atomically, so a run stopped
at its time budget keeps its curve.
"""

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from adjax import envs
from adjax.atomic import save_figure, write_json
from adjax.sources import dqn


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--height", type=int, default=24)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--episodes", type=int, default=100, help="per actor")
    ap.add_argument("--segment", type=int, default=5, help="episodes per compiled segment")
    ap.add_argument("--budget-min", type=float, default=60.0, help="stop after this wall time")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    over = {}
    for item in args.set:
        k, _, v = item.partition("=")
        v = json.loads(v)
        over[k] = tuple(v) if isinstance(v, list) else v
    cfg = dqn.cpu_config(num_episodes=args.episodes, **over)
    env, params = envs.make("watermaze", height=args.height, width=args.width)
    L, P = env.episode_len, cfg.period
    tasks = envs.tasks_for("watermaze", "train", args.tasks)[0]
    ps = jax.vmap(lambda t: env.with_task(params, t))(jnp.asarray(tasks))
    train = dqn.make_train(cfg, env)
    seg_iters = -(-args.segment * L // P)
    init = jax.jit(jax.vmap(train.init))
    run = jax.jit(jax.vmap(train.run, in_axes=(0, 0, 0, None)), static_argnums=3)
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(args.seed), i))(
        jnp.arange(args.tasks, dtype=jnp.uint32))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    state, hist = init(keys, ps)
    rewards = [np.asarray(hist.rewards)]  # [tasks, N, steps] pieces
    print(f"init {time.time() - t0:.0f}s", flush=True)
    seg = 0
    while True:
        steps = sum(r.shape[-1] for r in rewards)
        if steps >= cfg.num_episodes * L or time.time() - t0 > args.budget_min * 60:
            break
        k = jax.vmap(lambda kk, s=seg: jax.random.fold_in(kk, 1 + s))(keys)
        state, hist = run(state, k, ps, seg_iters)
        rewards.append(np.asarray(hist.rewards))
        seg += 1
        R = np.concatenate(rewards, axis=-1)
        E = min(R.shape[-1] // L, cfg.num_episodes)
        found = R[..., : E * L].reshape(*R.shape[:2], E, L).sum(-1) > 0  # [tasks, N, E]
        per_task = found.mean(1)  # [tasks, E]
        mean = per_task.mean(0)
        wall = time.time() - t0
        last = mean[-min(10, E):].mean()
        print(f"segment {seg}: {E} episodes, {int(state.updates[0])} updates, success last 10 "
              f"episodes {last:.3f}, {wall / 60:.1f} min", flush=True)
        write_json(out / "curve.json", {
            "env": "watermaze", "height": args.height, "width": args.width,
            "tasks": tasks.tolist(), "seed": args.seed, "source": "dqn",
            "source_config": dataclasses.asdict(cfg), "num_actors": cfg.num_actors,
            "episodes": E, "updates": int(state.updates[0]),
            "env_steps_per_platform": int(E * L * cfg.num_actors),
            "wall_seconds": round(wall, 1),
            "success_mean": [round(float(x), 4) for x in mean],
            "success_per_task": [[round(float(x), 4) for x in row] for row in per_task],
            "success_last10": round(float(last), 4)})
        fig = Figure(figsize=(6, 3.5))
        ax = fig.subplots()
        ax.plot(np.arange(E) + 1, mean, lw=1.5, label=f"mean over {args.tasks} platforms")
        for row in per_task:
            ax.plot(np.arange(E) + 1, row, lw=0.5, alpha=0.4, c="gray")
        ax.axhline(0.8, ls="--", c="k", lw=0.8, label="target 0.8")
        ax.set_ylim(0, 1)
        ax.set_xlabel(f"episode of each actor ({cfg.num_actors} actors per platform)")
        ax.set_ylabel("success (platform reached)")
        ax.set_title(f"DQN Q(lambda) on Watermaze {args.height}x{args.width}, "
                     f"{int(state.updates[0])} updates, {wall / 60:.0f} min CPU", fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        save_figure(fig, out / "curve.png")


if __name__ == "__main__":
    main()
