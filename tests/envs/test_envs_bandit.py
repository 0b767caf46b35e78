"""Adversarial bandit: one pull per episode, Bernoulli rewards, task distributions per split."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adjax import envs

KEY = jax.random.key(0)
MEANS = jnp.array([0.0, 1.0, 0.3, 0.5, 0.9, 0.1, 0.0, 0.0, 0.7, 0.2], jnp.float32)


def test_spaces_and_attributes(bandit):
    env, params = bandit
    assert (env.name, env.episode_len, env.num_actions) == ("bandit", 1, 10)
    space = env.observation_space(params)
    assert (space.low, space.high, space.shape, space.dtype) == (0, 0, (1,), jnp.int32)
    assert env.action_space(params).n == 10 and params.task.dtype == jnp.float32


def test_pull_frequencies_and_episode_of_one(bandit, rollout):
    env, params = bandit
    p = env.with_task(params, MEANS)
    n = 3000
    actions = jnp.tile(jnp.array([0, 1, 2, 10, -1], jnp.int32), n)
    obs0, _, out = rollout(env, KEY, p, actions)
    assert obs0.tolist() == [0] and not out["obs"].any() and out["obs"].shape == (5 * n, 1)
    assert out["truncated"].all() and not out["terminated"].any()
    freq = np.asarray(out["reward"]).reshape(n, 5).mean(axis=0)
    assert freq[0] == 0 and freq[1] == 1
    assert abs(freq[2] - 0.3) < 5 * np.sqrt(0.3 * 0.7 / n)
    assert freq[3] == 0 and freq[4] == 0  # out-of-range arms never pay


def test_jit_equals_no_jit_and_same_key_same_bits(bandit, rollout, rollout_python):
    env, params = bandit
    p = env.with_task(params, MEANS)
    actions = jnp.arange(12, dtype=jnp.int32) % 10
    a = rollout(env, KEY, p, actions)
    jax.tree.map(np.testing.assert_array_equal, a, rollout(env, KEY, p, actions))
    jax.tree.map(np.testing.assert_array_equal, a, rollout_python(env, KEY, p, actions))


def test_vmap_over_tasks_equals_loop(bandit, rollout):
    env, params = bandit
    tasks = envs.sample_tasks("bandit", jax.random.key(1), 4, split="train")
    keys = jax.random.split(jax.random.key(2), 4)
    actions = jax.random.randint(jax.random.key(3), (4, 12), 0, 10)
    stacked = jax.vmap(env.with_task, in_axes=(None, 0))(params, tasks)
    batched = jax.vmap(lambda k, p, a: rollout(env, k, p, a))(keys, stacked, actions)
    for i in range(4):
        one = rollout(env, keys[i], env.with_task(params, tasks[i]), actions[i])
        jax.tree.map(lambda b, o, i=i: np.testing.assert_array_equal(b[i], o), batched, one)


ODD = np.arange(10) % 2 == 1


@pytest.mark.parametrize("split, odd_fraction", [("train", 0.95), ("odd", 0.95), ("even", 0.05)])
def test_parity_splits(split, odd_fraction):
    n = 4000
    mu = np.asarray(envs.sample_tasks("bandit", jax.random.key(11), n, split=split))
    assert mu.shape == (n, 10) and mu.dtype == np.float32
    odd_fav = np.all(mu[:, ODD] >= 0.5, axis=1) & np.all(mu[:, ~ODD] < 0.5, axis=1)
    even_fav = np.all(mu[:, ~ODD] >= 0.5, axis=1) & np.all(mu[:, ODD] < 0.5, axis=1)
    assert np.all(odd_fav ^ even_fav)  # every task favours exactly one parity
    tol = 5 * np.sqrt(0.05 * 0.95 / n)  # ~0.017
    assert abs(odd_fav.mean() - odd_fraction) < tol
    hi, lo = np.where(odd_fav[:, None] == ODD[None], mu, np.nan), np.where(
        odd_fav[:, None] != ODD[None], mu, np.nan)
    assert abs(np.nanmean(hi) - 0.75) < 0.01 and abs(np.nanmean(lo) - 0.25) < 0.01
    assert np.nanmin(hi) >= 0.5 and np.nanmax(hi) < 1 and np.nanmin(lo) >= 0


def test_uniform_split():
    mu = np.asarray(envs.sample_tasks("bandit", jax.random.key(12), 4000, split="uniform"))
    assert mu.min() >= 0 and mu.max() < 1
    hist = np.histogram(mu, bins=4, range=(0, 1))[0] / mu.size
    np.testing.assert_allclose(hist, 0.25, atol=0.01)
    odd_fav = np.all(mu[:, ODD] >= 0.5, axis=1) & np.all(mu[:, ~ODD] < 0.5, axis=1)
    assert odd_fav.mean() < 0.01


def test_same_key_same_tasks():
    a = envs.sample_tasks("bandit", jax.random.key(3), 8, split="even")
    b = envs.sample_tasks("bandit", jax.random.key(3), 8, split="even")
    np.testing.assert_array_equal(a, b)
