"""Does AD learn in context on Watermaze when it sees the agent's state instead of frames?

The quick run's histories (their stored renderer state: x, y, heading) binned into a discrete
observation (x and y in 19 bins of 0.1 over [-0.95, 0.95], the heading in 16 bins of the turn
angle pi/8), AD trained on them with the quick preset's transformer and training settings (the
factored encoder instead of the image one), then evaluated in context on validation platforms in
an arena whose observation is the same binning. It separates the two halves of the task: if AD
learns in context here, reading position from frames is what the pixel model lacks; if not, the
histories or the context are.

    PYTHONPATH=src python experiments/watermaze/state_probe.py --out runs/watermaze_state \
        --tasks 8 --seeds 5 --episodes 160
    PYTHONPATH=src python experiments/watermaze/state_probe.py --preset streams \
        --data runs/watermaze_streams/data/learning --out runs/watermaze_state_streams

Resumable: training continues from its last checkpoint; the evaluation is written to
OUT/eval_val.json with the random policy's curve on the same platforms and keys.
"""

import argparse
import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces

from adjax import data, envs
from adjax.atomic import write_json
from adjax.devices import use_cpu_cores
from adjax.envs.watermaze import Watermaze
from adjax.evaluate import in_context, load_agent
from adjax.evaluate.baselines import random_policy
from adjax.evaluate.results import over_tasks_and_seeds
from adjax.experiments import sweep, watermaze
from adjax.model import cpu_model
from adjax.stats import mean_ci
from adjax.train import Arrays, fit

XY_BINS, HEADING_BINS = 19, 16
OBS_DIMS = (XY_BINS, XY_BINS, HEADING_BINS)


def binned(state_3):
    """float[..., 3] (x, y, heading) -> int32[..., 3] bin indices."""
    state_3 = jnp.asarray(state_3, jnp.float32)
    xy = jnp.clip(jnp.floor((state_3[..., :2] + 0.95) / 0.1), 0, XY_BINS - 1)
    h = jnp.mod(jnp.round(state_3[..., 2] / (jnp.pi / 8)), HEADING_BINS)
    return jnp.concatenate([xy, h[..., None]], -1).astype(jnp.int32)


class StateWatermaze(Watermaze):
    """Watermaze whose observation is `binned(stored_obs)` (the same rules and tasks)."""

    def get_obs(self, state, params=None, key=None):
        return binned(self.stored_obs(state))

    def observation_space(self, params=None):
        return spaces.Box(0, XY_BINS - 1, (3,), jnp.int32)


def arrays(path) -> Arrays:
    ds = data.load(path, env="watermaze", quiet=True)
    obs = np.asarray(binned(np.asarray(ds.obs_state))).astype(np.uint8)
    return Arrays(obs, np.asarray(ds.actions), np.asarray(ds.rewards), episode_len=50,
                  env_name="watermaze-state", num_actions=Watermaze.num_actions)


def evaluate(run: Path, num_tasks: int, num_seeds: int, num_episodes: int) -> dict:
    """Per-episode success of AD and of the random policy, each the mean over validation
    platforms 0..num_tasks-1 x num_seeds evaluation seeds (the same pair keys for both)."""
    env = StateWatermaze(height=1, width=1)
    tasks = jnp.asarray(envs.task_split("watermaze", validation=True)[1][:num_tasks])
    fns = {"AD": lambda a, k, p: in_context(k, a, env, p, num_episodes),
           "random": lambda a, k, p: random_policy(k, env, p, num_episodes)}
    return {name: np.asarray(over_tasks_and_seeds(fn, jax.random.key(7), env,
                                                  env.default_params, tasks, num_seeds,
                                                  agent=load_agent(run)))
            for name, fn in fns.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="runs/watermaze/data/learning")
    ap.add_argument("--preset", default="quick", choices=sorted(watermaze.PRESETS),
                    help="the watermaze preset whose context and training the probe takes "
                         "(the one that collected --data)")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--episodes", type=int, default=160)
    ap.add_argument("--set", action="append", default=[], help="TrainConfig field=value")
    args = ap.parse_args()
    cfg = watermaze.PRESETS[args.preset]()
    train = sweep.apply(dataclasses.replace(cfg.train_ad, steps_per_call=50),  # no convolutions
                          args.set)
    model = cpu_model(OBS_DIMS, Watermaze.num_actions, context_len=cfg.model.context_len,
                      layout="one", attn_dropout=0.1, token_mask_prob=0.0,
                      obs_encoder="factored")
    run = args.out / "ad"
    fit(train, model, arrays(args.data), run)
    pairs = evaluate(run, args.tasks, args.seeds, args.episodes)  # [tasks, seeds, episodes]
    curves = {k: v.mean((0, 1)) for k, v in pairs.items()}
    per16 = {k: [round(float(x), 3) for x in v.reshape(-1, 16).mean(1)]
             for k, v in curves.items()}
    # the last 16 episodes' success, with its 95% interval over evaluation seeds (as
    # candidates.py reports the presets' runs)
    last16 = {k: [round(float(x), 3) for x in mean_ci(v[..., -16:].mean((0, 2)))]
              for k, v in pairs.items()}
    write_json(args.out / "eval_val.json", {"tasks": args.tasks, "seeds": args.seeds,
                                            "episodes": args.episodes, "per_16_episodes": per16,
                                            "last_16_mean_ci95": last16,
                                            "curves": {k: v.tolist() for k, v in curves.items()}})
    print(json.dumps(per16), json.dumps(last16))


if __name__ == "__main__":
    use_cpu_cores()
    main()
