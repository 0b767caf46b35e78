"""Baselines on the evaluation tasks and env-step axis: random, source from scratch, optimum."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from adjax import envs, sources
from adjax.evaluate.loop import Agent, AgentSpec, episode_length, in_context


class UniformAgent(Agent):
    """Uniformly random actions, context ignored (its state is a dummy scalar)."""

    def encode(self, obs_KxO, prev_act_K, prev_rew_K, valid_K):
        return jnp.zeros((), jnp.float32)

    def decode(self, state, obs_O, prev_act, prev_rew):
        return jnp.zeros((self.spec.num_actions,), jnp.float32), state


def env_spec(env, env_params, context_len: int = 1) -> AgentSpec:
    """AgentSpec matching an env's spaces (for agents built around an environment)."""
    space = env.observation_space(env_params)
    return AgentSpec(tuple(space.shape), np.dtype(space.dtype).name,
                     int(env.action_space(env_params).n), context_len)


def random_policy(key, env, env_params, num_episodes: int, *, episode_len: int | None = None):
    """Returns of a uniformly random policy on one task -> float32[num_episodes]."""
    agent = UniformAgent(env_spec(env, env.default_params))
    return in_context(key, agent, env, env_params, num_episodes, refresh_every=1,
                      episode_len=episode_len)


def source_config(cfg, num_episodes: int, episode_len: int):
    """A source Config with enough training for num_episodes episodes per stream."""
    names = {f.name for f in dataclasses.fields(cfg)}
    if "num_episodes" in names:
        return dataclasses.replace(cfg, num_episodes=num_episodes)
    if "num_pulls" in names:  # UCB: one pull per episode
        return dataclasses.replace(cfg, num_pulls=num_episodes * episode_len)
    if "num_updates" in names and "unroll" in names:
        updates = math.ceil(num_episodes * episode_len / cfg.unroll)
        return dataclasses.replace(cfg, num_updates=updates)
    raise ValueError(f"cannot set the number of episodes of {type(cfg).__name__}")


def source_from_scratch(key, cfg, env, env_params, num_episodes: int, *, stream: int = 0,
                        episode_len: int | None = None):
    """Per-episode returns of one stream of the source algorithm learning one task from scratch.

    cfg: a source Config (registered in `adjax.sources` under its class attribute NAME), rerun
    with `source_config(cfg, num_episodes, L)` -> float32[num_episodes]. Vmap over keys and env
    params.
    """
    length = episode_length(env, env_params, episode_len)
    train = sources.module_of(cfg).make_train(source_config(cfg, num_episodes, length), env)
    _, hist = train(key, env_params)
    rewards = hist.rewards[stream]
    assert rewards.ndim == 1, rewards.shape
    per_episode = rewards[: (rewards.shape[0] // length) * length].reshape(-1, length).sum(axis=1)
    return per_episode[:num_episodes].astype(jnp.float32)


def source_step_curve(key, cfg, env, env_params, num_steps: int, num_actors: int):
    """The source algorithm learning one task from scratch, against the env steps it consumed.

    cfg: a source Config whose actors all feed one learner (a `num_actors` field: A2C), rerun with
    num_actors actors for at least num_steps env steps counted over all actors. -> float32[E]:
    entry e is the mean over actors of their e-th episode's return, complete after
    (e + 1) * L * num_actors env steps (L the episode length). Vmap over keys and env params.
    """
    if not hasattr(cfg, "num_actors"):
        raise ValueError(f"{type(cfg).__name__} has no num_actors: the env-step source curve "
                         "needs a source whose actors share one learner (A2C)")
    L = episode_length(env, env_params, None)
    num_episodes = max(1, math.ceil(num_steps / (L * num_actors)))
    cfg = source_config(dataclasses.replace(cfg, num_actors=num_actors), num_episodes, L)
    _, hist = sources.module_of(cfg).make_train(cfg, env)(key, env_params)
    rewards = hist.rewards[:, : num_episodes * L]  # [actors, T]
    return rewards.reshape(num_actors, num_episodes, L).sum(-1).mean(0).astype(jnp.float32)


def optimal_returns(env_name: str, tasks) -> np.ndarray | None:
    """Optimal return per task (float[N]) where `adjax.envs.optimal_return` knows it, else None."""
    fn = getattr(envs, "optimal_return", None)
    if fn is None:
        return None
    try:
        return np.asarray(jax.vmap(lambda t: jnp.asarray(fn(env_name, t), jnp.float32))(tasks))
    except (AssertionError, NotImplementedError, KeyError, ValueError, TypeError):
        return None
