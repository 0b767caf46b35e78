"""Shared helpers for the env tests: one jitted rollout (reset, then scripted or given actions)."""

import functools

import jax
import jax.numpy as jnp
import pytest

from adjax import envs

RESET = 1_000_000  # fold_in index of the reset key; step t uses t


@functools.partial(jax.jit, static_argnums=0)
def _rollout(env, key, params, actions_T, state=None):
    """Reset (unless `state` is given) then step through actions_T.

    -> (obs0, state0, Steps) where Steps holds per-step obs, reward, terminated, truncated,
    final_observation (leading axis T). Step t uses key fold_in(key, t).
    """
    if state is None:
        obs0, state = env.reset(jax.random.fold_in(key, RESET), params)
    else:
        obs0 = state.pos if hasattr(state, "pos") else jnp.zeros((1,), jnp.int32)
    state0 = state

    def body(state, x):
        t, a = x
        obs, state, r, term, trunc, info = env.step(jax.random.fold_in(key, t), state, a, params)
        return state, {"obs": obs, "reward": r, "terminated": term, "truncated": trunc,
                       "final_obs": info["final_observation"]}

    steps = jnp.arange(actions_T.shape[0])
    _, out = jax.lax.scan(body, state, (steps, jnp.asarray(actions_T, jnp.int32)))
    return obs0, state0, out


def _rollout_python(env, key, params, actions_T, state=None):
    """The same as `_rollout`, as a Python loop of un-jitted steps."""
    with jax.disable_jit():
        if state is None:
            obs0, state = env.reset(jax.random.fold_in(key, RESET), params)
        else:
            obs0 = state.pos if hasattr(state, "pos") else jnp.zeros((1,), jnp.int32)
        state0, rows = state, []
        for t, a in enumerate(list(actions_T)):
            obs, state, r, term, trunc, info = env.step(jax.random.fold_in(key, t), state,
                                                        jnp.int32(a), params)
            rows.append({"obs": obs, "reward": r, "terminated": term, "truncated": trunc,
                         "final_obs": info["final_observation"]})
    out = {k: jnp.stack([row[k] for row in rows]) for k in rows[0]}
    return obs0, state0, out


@pytest.fixture(scope="module")
def darkroom():
    return envs.make("darkroom")


@pytest.fixture(scope="module")
def darkroom_hard():
    return envs.make("darkroom-hard")


@pytest.fixture(scope="module")
def key_to_door():
    return envs.make("key-to-door")


@pytest.fixture(scope="module")
def bandit():
    return envs.make("bandit")


@pytest.fixture(scope="session")
def rollout():
    """jit(env, key, params, actions_T, state=None) -> (obs0, state0, steps dict)."""
    return _rollout


@pytest.fixture(scope="session")
def rollout_python():
    """Un-jitted Python-loop twin of `rollout`."""
    return _rollout_python
