"""UCB1 (Auer, Cesa-Bianchi & Fischer 2002): the paper's source for the adversarial bandit."""

from dataclasses import dataclass, replace
from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import struct

from adjax.sources.common import History


@dataclass(frozen=True)
class Config:
    """One pull per bandit episode; a history is num_pulls pulls of one task."""

    NAME: ClassVar[str] = "ucb"
    num_pulls: int = 100
    c: float = 1.0  # exploration bonus c * sqrt(2 ln t / n)
    explore: bool = True  # False: pull argmax of the empirical means (the expert)


@struct.dataclass
class UCBState:
    counts: jax.Array  # float32[A]
    sums: jax.Array  # float32[A]
    env_state: struct.PyTreeNode
    obs: jax.Array  # int32[O]


def ucb_scores(counts_A, sums_A, t, c):
    """UCB1 index mean + c sqrt(2 ln t / n); unpulled arms score +inf (each arm is tried once)."""
    assert counts_A.ndim == 1, counts_A.shape
    mean = sums_A / jnp.maximum(counts_A, 1.0)
    bonus = c * jnp.sqrt(2.0 * jnp.log(jnp.maximum(t, 1.0)) / jnp.maximum(counts_A, 1.0))
    return jnp.where(counts_A > 0, mean + bonus, jnp.inf)


def _make_run(cfg: Config, env):
    def step(carry, inp):
        state, env_params = carry
        t, key = inp
        scores = ucb_scores(state.counts, state.sums, t, cfg.c if cfg.explore else 0.0)
        action = jnp.argmax(scores).astype(jnp.int32)
        obs, env_state, reward, *_ = env.step(key, state.env_state, action, env_params)
        reward = reward.astype(jnp.float32)
        state = state.replace(counts=state.counts.at[action].add(1.0),
                              sums=state.sums.at[action].add(reward),
                              env_state=env_state, obs=obs)
        return (state, env_params), History(obs=carry[0].obs, actions=action, rewards=reward)

    def run(key, env_params, counts, sums):
        k_reset, k_run = jax.random.split(key)
        obs, env_state = env.reset(k_reset, env_params)
        state = UCBState(counts=counts, sums=sums, env_state=env_state, obs=obs)
        t = counts.sum() + jnp.arange(cfg.num_pulls, dtype=jnp.float32)
        (state, _), hist = jax.lax.scan(
            step, (state, env_params), (t, jax.random.split(k_run, cfg.num_pulls))
        )
        return state, jax.tree.map(lambda x: x[None], hist)

    return run


def make_train(cfg: Config, env):
    """-> train(key, env_params) -> (UCBState, History[1, num_pulls])."""
    run = _make_run(cfg, env)
    A = env.num_actions

    def train(key, env_params):
        return run(key, env_params, jnp.zeros(A, jnp.float32), jnp.zeros(A, jnp.float32))

    return train


def make_expert(cfg: Config, env, num_episodes: int):
    """-> expert(key, final_state, env_params) -> History[1, num_episodes]: greedy on the
    learnt means, no bonus (the statistics keep updating, as a converged UCB would)."""
    run = _make_run(replace(cfg, num_pulls=num_episodes, explore=False), env)

    def expert(key, final_state: UCBState, env_params):
        return run(key, env_params, final_state.counts, final_state.sums)[1]

    return expert
