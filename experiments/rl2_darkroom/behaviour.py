"""How an RL² network searches and whether it comes back: over one evaluation trial per (goal,
evaluation seed) of a split, the distinct cells a trial visits (per episode and in all), the
episode the goal is first reached, and after that, the share of the trial's later episodes that
reach it again and their mean return; beside the uniform random policy on the same pairs.

    PYTHONPATH=src python experiments/rl2_darkroom/behaviour.py runs/rl2_dr_h256/seed0 \
        --split val --json experiments/rl2_darkroom/probes_h256/behaviour.json

The RL² trials are the ones `adjax.rl2.evaluate` runs (same keys and loop), so their returns
are that evaluation's; the random policy's keys are AD's random curve's.
"""

import argparse
from pathlib import Path

import jax
import numpy as np

from adjax.atomic import write_json
from adjax.evaluate import in_context_trace
from adjax.evaluate.baselines import UniformAgent, env_spec
from adjax.evaluate.results import CURVE_KEYS, pair_keys, split_tasks
from adjax.rl2.evaluate import RL2Agent
from adjax.rl2.train import load_run


def traces(agent, env, tasks, keys, num_episodes):
    """Positions int[N, S, T, 2] and rewards float[N, S, T] of one trial per (task, seed)."""
    T = num_episodes * env.episode_len

    def one(key, task):
        tr = in_context_trace(key, agent, env, env.with_task(env.default_params, task),
                              num_episodes, refresh_every=T)
        return tr.obs, tr.rewards

    fn = jax.jit(jax.vmap(jax.vmap(one, in_axes=(0, None)), in_axes=(0, 0)))
    obs, rew = fn(keys, tasks)
    return np.asarray(obs), np.asarray(rew)


def behaviour(obs, rew, size: int, num_episodes: int, train_cells=None) -> dict:
    """train_cells: the training goals' cells (y * size + x), to measure how much of a search
    (the distinct cells visited before the goal is first reached) lies on them."""
    N, S, T, _ = obs.shape
    L = T // num_episodes
    cell = obs[..., 1] * size + obs[..., 0]  # [N, S, T]
    by_ep = cell.reshape(N, S, num_episodes, L)
    distinct_ep = np.mean([[len(set(by_ep[n, s, e])) for e in range(num_episodes)]
                           for n in range(N) for s in range(S)])
    distinct_trial = np.mean([len(set(cell[n, s])) for n in range(N) for s in range(S)])
    hit = rew.reshape(N, S, num_episodes, L).sum(-1) > 0  # [N, S, E]: reached the goal
    ret = rew.reshape(N, S, num_episodes, L).sum(-1)
    first = np.where(hit.any(-1), hit.argmax(-1), num_episodes)  # [N, S]
    after_hit, after_ret = [], []
    for n in range(N):
        for s in range(S):
            e = first[n, s]
            if e < num_episodes - 1:
                after_hit.extend(hit[n, s, e + 1:].tolist())
                after_ret.extend(ret[n, s, e + 1:].tolist())
    found_by = [(first <= k).mean() for k in range(num_episodes)]
    search_share = None
    if train_cells is not None:
        train_cells = set(int(c) for c in train_cells)
        shares = []
        for n in range(N):
            for s in range(S):
                seen = set(cell[n, s, :first[n, s] * L].tolist())
                if seen:
                    shares.append(len(seen & train_cells) / len(seen))
        search_share = float(np.mean(shares)) if shares else None
    return {
        "trial_return_mean": float(ret.mean()),
        "distinct_cells_per_episode": float(distinct_ep),
        "distinct_cells_per_trial": float(distinct_trial),
        "found_by_episode": [round(float(f), 4) for f in found_by],
        "episodes_after_first_find": len(after_hit),
        "reach_again_share": float(np.mean(after_hit)) if after_hit else None,
        "return_after_first_find": float(np.mean(after_ret)) if after_ret else None,
        # share of the distinct cells visited in the episodes before the first find that are
        # training goals (all the cells of the room: 57 of 81 are)
        "search_on_training_goals": search_share,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--split", default="val")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--episodes", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--update", type=int, default=None, help="a kept checkpoint (default: latest)")
    args = ap.parse_args(argv)
    cfg, env, params, config = load_run(args.run_dir, args.update)
    E = args.episodes or cfg.episodes_per_trial
    tasks = split_tasks(cfg.env, args.split, None)
    train = np.asarray(split_tasks(cfg.env, "train", None))
    train_cells = train[:, 1] * env.size + train[:, 0]
    root = jax.random.key(0)
    out = {"run_dir": str(args.run_dir), "update": config["update"], "split": args.split,
           "num_tasks": int(tasks.shape[0]), "num_seeds": args.seeds, "num_episodes": E,
           "env": cfg.env}
    agents = {"rl2": (RL2Agent.create(cfg.hidden, env, params, E), CURVE_KEYS["rl2"]),
              "random": (UniformAgent(env_spec(env, env.default_params, E * env.episode_len)),
                         CURVE_KEYS["random"])}
    for name, (agent, stream) in agents.items():
        keys = pair_keys(jax.random.fold_in(root, stream), tasks.shape[0], args.seeds)
        obs, rew = traces(agent, env, tasks, keys, E)
        out[name] = behaviour(obs, rew, env.size, E, train_cells)
        b = out[name]
        found = b["found_by_episode"]
        print(f"{name:6s} trial mean {b['trial_return_mean']:.2f}; distinct cells per episode "
              f"{b['distinct_cells_per_episode']:.1f}, per trial "
              f"{b['distinct_cells_per_trial']:.1f}; found by episode 1/5/{E}: {found[0]:.2f}/"
              f"{found[min(4, E - 1)]:.2f}/{found[-1]:.2f}; after the first find: reached "
              f"again in {b['reach_again_share']:.2f} of {b['episodes_after_first_find']} "
              f"episodes, return {b['return_after_first_find']:.2f}; search on training "
              f"goals' cells {b['search_on_training_goals']:.2f}")
    if args.json:
        write_json(args.json, out, indent=1)


if __name__ == "__main__":
    main()
