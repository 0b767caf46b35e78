"""RL² evaluation with AD's protocol: frozen weights, one trial of N episodes per (task, seed) with
the network's state kept across its episodes (LSTM state; the transformer's context of the trial
so far), actions sampled at temperature 1; results in the form of `adjax.evaluate.evaluate_run`'s
JSON (curve "rl2" beside "random" and the optimum)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from tqdm.auto import tqdm

from adjax import envs
from adjax.atomic import write_json
from adjax.evaluate import Agent, AgentSpec, TransformerAgent, in_context
from adjax.evaluate.results import (
    CURVE_KEYS,
    INTERVAL,
    over_tasks_and_seeds,
    plot,
    policy_fn,
    split_record,
    split_tasks,
    summarize,
)
from adjax.rl2.network import RL2Net, step, step_input, zero_carry
from adjax.rl2.train import load_run
from adjax.rl2.transformer import model_config
from adjax.sources.common import obs_dims

# Task x seed pairs per compiled call: an LSTM's state is small, so larger chunks pay on a CPU.
DEFAULT_BATCH = 320


def default_splits(env_name: str) -> tuple[str, ...]:
    """Validation and held-out tasks, and on the grids the training tasks too (as AD's
    experiments evaluate them: RL²'s return on the tasks it was meta-trained on beside the
    held-out ones tells learning the task set from learning to search): grids "val", "test",
    "train"; bandit "val" and its test distributions "odd", "even", "uniform"."""
    return (("val", "test", "train") if envs.has_task_sets(env_name)
            else ("val", "odd", "even", "uniform"))


class RL2Agent(Agent):
    """An RL² LSTM as an evaluation `Agent`: its state is the LSTM's and the step count, and each
    step's input is the network's own (`step_input`: previous action and reward carried across
    episodes, the episode-start flag every `episode_len` steps). A trial is one block of the
    evaluation loop (`refresh_every` = the trial's steps): the state starts at zero and is never
    rebuilt from a context, as in training. Unbatched; vmap at the call site."""

    params: Any
    hidden: tuple[int, ...] = struct.field(pytree_node=False)
    dims: tuple[int, ...] = struct.field(pytree_node=False)
    episode_len: int = struct.field(pytree_node=False)

    @classmethod
    def create(cls, hidden: tuple[int, ...], env, params, num_episodes: int) -> RL2Agent:
        """The agent of an RL² network for trials of num_episodes episodes in `env`."""
        space = env.observation_space(env.default_params)
        spec = AgentSpec(tuple(space.shape), np.dtype(space.dtype).name, int(env.num_actions),
                         num_episodes * int(env.episode_len))
        return cls(spec=spec, params=params, hidden=tuple(hidden), dims=obs_dims(env),
                   episode_len=int(env.episode_len))

    def encode(self, obs_KxO, prev_act_K, prev_rew_K, valid_K):
        if obs_KxO.shape[0]:
            raise ValueError("an RL² agent's state is its trial so far: it takes no context "
                             "(refresh_every must be the trial's steps)")
        return zero_carry(self.hidden), jnp.int32(0)

    def decode(self, state, obs_O, prev_act, prev_rew):
        carry, t = state
        x = step_input(obs_O, prev_act, prev_rew, t % self.episode_len == 0, self.dims,
                       self.spec.num_actions)
        net = RL2Net(self.spec.num_actions, self.hidden)
        carry, logits, _ = step(net, self.params, carry, x, jnp.bool_(False))
        return logits, (carry, t + 1)


@functools.cache
def trial_fn(hidden: tuple[int, ...], env, num_episodes: int, temperature: float = 1.0):
    """fn(params, key, env_params) -> float32[num_episodes]: the returns of one trial of
    num_episodes episodes on one task, the LSTM state carried across them: `RL2Agent` through
    AD's evaluation loop (`adjax.evaluate.in_context`) as one block (memoised, so equal settings
    share compiled code; vmap over keys and env params)."""
    steps = num_episodes * int(env.episode_len)

    def fn(params, key, env_params):
        agent = RL2Agent.create(hidden, env, params, num_episodes)
        return in_context(key, agent, env, env_params, num_episodes, refresh_every=steps,
                          temperature=temperature)

    return fn


@functools.cache
def transformer_trial_fn(model_cfg, env, num_episodes: int, temperature: float = 1.0):
    """The RL²-Transformer's `trial_fn`: fn(trunk params, key, env_params) -> float32[E], one
    trial through AD's evaluation loop (`adjax.evaluate.in_context`, KV-cached) with the policy
    head; the context holds the whole trial (one block, no refresh), as in training, so a trial
    has at most the context's steps (the training trial's)."""
    steps = num_episodes * env.episode_len
    if steps > model_cfg.context_len:
        raise ValueError(f"RL²-Transformer's context is one training trial of "
                         f"{model_cfg.context_len} steps: num_episodes={num_episodes} "
                         f"({steps} steps) does not fit")

    def fn(trunk, key, env_params):
        agent = TransformerAgent.create(model_cfg, trunk)
        return in_context(key, agent, env, env_params, num_episodes, refresh_every=steps,
                          temperature=temperature)

    return fn


def network_trial_fn(cfg, env, params, num_episodes: int):
    """(fn, its params) of an RL² run's network: `trial_fn` (LSTM) or `transformer_trial_fn`."""
    if cfg.network == "transformer":
        mc = model_config(cfg, env, obs_dims(env))
        return (transformer_trial_fn(mc, env, num_episodes),
                {"params": params["params"]["trunk"]})
    return trial_fn(cfg.hidden, env, num_episodes), params


def evaluate(run_dir, out, *, splits: Sequence[str] | None = None, num_episodes: int | None = None,
             num_seeds: int = 20, seed: int = 0, num_tasks: int | None = None,
             baselines: Sequence[str] = ("random", "optimal"), batch_size: int = DEFAULT_BATCH,
             keep_returns: bool = True, figure: bool = True, progress: bool = True,
             update: int | None = None) -> dict:
    """Evaluate an RL² run's latest checkpoint (or update `update`'s) on each split and write
    `out` (JSON; figure beside).

    num_episodes: episodes per evaluation trial (default: the training trial's). The JSON has
    `adjax.evaluate.evaluate_run`'s form: {"env", "run_dir", settings, "interval", "splits":
    {split: {"tasks", "num_tasks", "curves": {"rl2" | "random": {"returns" [N][S][E] (unless
    keep_returns=False), "summary"}}, "optimal"}}} plus "rl2" (config, update, env steps).
    """
    cfg, env, params, config = load_run(run_dir, update)
    env_name = cfg.env
    splits = tuple(splits or default_splits(env_name))
    num_episodes = num_episodes or cfg.episodes_per_trial
    env_params = env.default_params
    # keys fold_in(root, CURVE_KEYS[curve]) as AD's evaluation, so its random curve is AD's
    fns = {"rl2": (*network_trial_fn(cfg, env, params, num_episodes), CURVE_KEYS["rl2"])}
    if "random" in baselines:
        fns["random"] = (policy_fn("random", env, num_episodes), None, CURVE_KEYS["random"])
    root = jax.random.key(seed)
    result = {"env": env_name, "run_dir": str(run_dir), "ed_run_dir": None,
              "num_episodes": num_episodes, "num_seeds": num_seeds, "seed": seed,
              "episode_len": int(env.episode_len), "refresh_every": None, "temperature": 1.0,
              "greedy": False, "interval": INTERVAL,
              "rl2": {"config": cfg.to_dict(), "update": config["update"],
                      "env_steps": config["update"] * cfg.steps_per_update(),
                      "trial_episodes": cfg.episodes_per_trial},
              "splits": {}}
    tasks_of = {s: split_tasks(env_name, s, num_tasks) for s in splits}
    total = sum(t.shape[0] for t in tasks_of.values()) * num_seeds * len(fns)
    bar = tqdm(total=total, desc="evaluate rl2", unit="pair", disable=not progress)
    for split in splits:
        tasks = tasks_of[split]
        curves = {}
        for name, (fn, who, stream) in fns.items():
            bar.set_postfix_str(f"{split}: {name}")
            ret = over_tasks_and_seeds(fn, jax.random.fold_in(root, stream), env, env_params,
                                       tasks, num_seeds, batch_size, on_chunk=bar.update,
                                       agent=who)
            curves[name] = {"summary": summarize(ret)}
            if keep_returns:
                curves[name]["returns"] = np.round(ret, 6).tolist()
        result["splits"][split] = split_record(env_name, tasks, curves,
                                               with_optimal="optimal" in baselines)
    bar.close()
    write_json(out, result, indent=None, checksum=True)
    if figure:
        plot(result, Path(out).with_suffix(".png"))
    return result
