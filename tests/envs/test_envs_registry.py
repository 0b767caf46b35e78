"""Registry: exact task splits, task sampling, make overrides, and every input error named."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

from adjax import envs

KEY = jax.random.key(0)


def test_env_names_and_make():
    assert envs.ENV_NAMES == ("darkroom", "darkroom-hard", "key-to-door", "bandit", "watermaze")
    for name in envs.ENV_NAMES:
        env, params = envs.make(name)
        assert env.name == name and isinstance(env.episode_len, int)
        assert isinstance(env.num_actions, int)
        assert params.max_steps_in_episode == env.episode_len
    env, params = envs.make("darkroom", size=5, episode_len=7)
    assert (env.size, env.episode_len, params.size, params.max_steps_in_episode) == (5, 7, 5, 7)
    assert env.observation_space(params).high == 4


@pytest.mark.parametrize("name, width, n_train, n_val, n_test", [
    ("darkroom", 9, 57, 8, 16), ("darkroom-hard", 17, 202, 29, 58)])
def test_grid_splits_exact(name, width, n_train, n_val, n_test):
    train, val, test = envs.task_split(name, validation=True)
    assert train.shape == (n_train, 2) and val.shape == (n_val, 2) and test.shape == (n_test, 2)
    assert train.dtype == np.int32 and val.dtype == np.int32 and test.dtype == np.int32
    perm = np.random.default_rng(0).permutation(width * width)

    def index(t):
        return t[:, 1] * width + t[:, 0]

    np.testing.assert_array_equal(index(test), perm[:n_test])
    np.testing.assert_array_equal(index(val), perm[n_test:n_test + n_val])
    np.testing.assert_array_equal(index(train), perm[n_test + n_val:])
    idx = index(np.concatenate([train, val, test]))
    assert sorted(idx.tolist()) == list(range(width * width))  # disjoint, covering
    two = envs.task_split(name)  # (train, test): train never holds the validation tasks
    np.testing.assert_array_equal(two[0], train)
    np.testing.assert_array_equal(two[1], test)


def test_key_to_door_split_exact():
    train, val, test = envs.task_split("key-to-door", validation=True)
    assert train.shape == (4593, 2, 2) and val.shape == (656, 2, 2)
    assert test.shape == (1312, 2, 2)

    def index(t):
        key_cell = t[:, 0, 1] * 9 + t[:, 0, 0]
        door_cell = t[:, 1, 1] * 9 + t[:, 1, 0]
        return key_cell * 81 + door_cell

    perm = np.random.default_rng(0).permutation(6561)
    np.testing.assert_array_equal(index(test), perm[:1312])
    np.testing.assert_array_equal(index(val), perm[1312:1968])
    assert sorted(np.concatenate([index(train), index(val), index(test)]).tolist()) == list(
        range(6561))
    assert np.any(np.all(train[:, 0] == train[:, 1], axis=1))  # coinciding tasks exist


def test_bandit_has_no_fixed_split():
    with pytest.raises(ValueError, match="sample_tasks"):
        envs.task_split("bandit")
    assert not envs.has_task_sets("bandit") and envs.has_task_sets("darkroom")


@pytest.mark.parametrize("name", ["darkroom", "darkroom-hard", "key-to-door"])
def test_sample_tasks_from_the_split(name):
    sets = dict(zip(envs.SPLITS, envs.task_split(name, validation=True), strict=True))
    for split, pool in sets.items():
        got = np.asarray(envs.sample_tasks(name, KEY, 300, split=split))
        assert got.shape == (300, *pool.shape[1:]) and got.dtype == np.int32
        flat = {tuple(x) for x in pool.reshape(len(pool), -1).tolist()}
        assert all(tuple(x) in flat for x in got.reshape(300, -1).tolist())
    test = sets["test"]
    distinct = np.asarray(envs.sample_tasks(name, KEY, len(test), split="test", replace=False))
    assert len({tuple(x) for x in distinct.reshape(len(test), -1).tolist()}) == len(test)


def _rows(tasks):
    return {tuple(np.asarray(x).ravel().tolist()) for x in tasks}


@pytest.mark.parametrize("name", envs.ENV_NAMES)
def test_no_evaluation_task_is_a_training_task(name):
    """tasks_for, the lookup of collection and evaluation: the validation and every evaluation
    split share no task with the training split (the bandit: its splits' key streams)."""
    n = None if envs.has_task_sets(name) else 2000
    train = _rows(envs.tasks_for(name, "train", n)[0])
    others = ("val", "test") if envs.has_task_sets(name) else ("val", "odd", "even", "uniform")
    # Watermaze's float platforms are compared exactly: three seeds' draws share none
    for split in others:
        tasks, ids = envs.tasks_for(name, split, None if n is None else 200)
        assert not train & _rows(tasks), split
        assert ids.dtype == np.int64


def test_bandit_tasks_are_stable_per_index():
    """Task i of a bandit split is the same whether 5 or 50 are drawn, and drawn from that
    split's own distribution (odd favoured ~95% of the time for train)."""
    few, _ = envs.tasks_for("bandit", "train", 5)
    many, ids = envs.tasks_for("bandit", "train", 500)
    np.testing.assert_array_equal(few, many[:5])
    assert ids.tolist() == list(range(500))
    odd_wins = (many[:, 1::2].mean(1) > many[:, 0::2].mean(1)).mean()
    assert 0.9 < odd_wins < 0.99
    with pytest.raises(ValueError, match="say how many"):
        envs.tasks_for("bandit", "train")
    with pytest.raises(ValueError, match="outside the val set of 8"):
        envs.tasks_for("darkroom", "val", [8])


def test_optimal_return():
    assert float(envs.optimal_return("darkroom", jnp.array([4, 4]))) == 20
    assert float(envs.optimal_return("darkroom", jnp.array([0, 0]))) == 13
    assert float(envs.optimal_return("darkroom-hard", jnp.array([0, 16]))) == 1
    assert float(envs.optimal_return("bandit", jnp.linspace(0, 0.9, 10))) == pytest.approx(0.9)
    with pytest.raises(NotImplementedError, match="random start"):
        envs.optimal_return("key-to-door", jnp.zeros((2, 2), jnp.int32))


def test_unknown_names_and_splits():
    with pytest.raises(ValueError, match="unknown environment 'dark'.*darkroom, darkroom-hard"):
        envs.make("dark")
    for fn in (envs.task_split, envs.optimal_return):
        with pytest.raises(ValueError, match="unknown environment"):
            fn("cartpole", *([jnp.zeros(2)] if fn is envs.optimal_return else []))
    with pytest.raises(ValueError, match="unknown split 'odd'.*train, val, test"):
        envs.sample_tasks("darkroom", KEY, 3, split="odd")
    with pytest.raises(ValueError, match="unknown split 'test'.*uniform"):
        envs.sample_tasks("bandit", KEY, 3, split="test")


def test_bad_overrides():
    with pytest.raises(ValueError, match="size=1 is too small"):
        envs.make("darkroom", size=1)
    with pytest.raises(ValueError, match="size=1 is too small"):
        envs.make("key-to-door", size=1)
    with pytest.raises(ValueError, match="num_arms=0 is too small"):
        envs.make("bandit", num_arms=0)
    with pytest.raises(ValueError, match="episode_len=0 is too small"):
        envs.make("darkroom-hard", episode_len=0)
    with pytest.raises(ValueError, match="size must be an int"):
        envs.make("darkroom", size=4.5)
    with pytest.raises(ValueError, match=r"unknown override\(s\) \['hard'\]"):
        envs.make("darkroom", hard=True)
    with pytest.raises(ValueError, match="too large"):
        envs.make("key-to-door", size=300)


def test_bad_tasks():
    env, params = envs.make("darkroom")
    with pytest.raises(ValueError, match=r"shape \(2,\), got \(2, 2\)"):
        env.with_task(params, jnp.zeros((2, 2), jnp.int32))
    with pytest.raises(ValueError, match="outside the 9x9 grid"):
        env.with_task(params, [9, 0])
    with pytest.raises(ValueError, match="outside the 9x9 grid"):
        env.with_task(params, np.array([-1, 3]))
    with pytest.raises(ValueError, match="integer cells"):
        env.with_task(params, [1.5, 2.0])
    k2d, kp = envs.make("key-to-door")
    with pytest.raises(ValueError, match=r"shape \(2, 2\), got \(2,\)"):
        k2d.with_task(kp, [1, 2])
    with pytest.raises(ValueError, match="outside"):
        k2d.with_task(kp, [[0, 0], [0, 12]])
    bandit, bp = envs.make("bandit")
    with pytest.raises(ValueError, match=r"shape \(10,\)"):
        bandit.with_task(bp, jnp.zeros(5))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        bandit.with_task(bp, jnp.full(10, 1.5))
    # inside jit only the shape can be checked; values pass through
    p = jax.jit(lambda t: env.with_task(params, t))(jnp.array([3, 1]))
    assert p.task.tolist() == [3, 1]


def test_params_from_another_config_are_rejected():
    env, params = envs.make("darkroom")
    small, small_params = envs.make("darkroom", size=5)
    obs, state = env.reset(KEY, params)
    with pytest.raises(ValueError, match="params.size=5 but this env has 9"):
        env.step(KEY, state, 1, small_params)
    with pytest.raises(ValueError, match="max_steps_in_episode"):
        env.with_task(envs.make("darkroom", episode_len=5)[1], [1, 1])


@pytest.mark.parametrize("name", ["darkroom", "key-to-door", "bandit"])
def test_checked_step_rejects_out_of_range_actions(name):
    env, params = envs.make(name)
    step = envs.checked_step(env)
    obs, state = env.reset(KEY, params)
    out = step(KEY, state, 1, params)
    plain = env.step(KEY, state, 1, params)
    jax.tree.map(np.testing.assert_array_equal, out, plain)
    for bad in (env.num_actions, -1):
        with pytest.raises(checkify.JaxRuntimeError, match=f"action out of range.*{bad}"):
            step(KEY, state, bad, params)


def test_check_action_under_vmap():
    env, params = envs.make("darkroom")
    obs, state = env.reset(KEY, params)

    def step(a):
        envs.check_action(env, a)
        return env.step(KEY, state, a, params)[2]

    checked = jax.jit(checkify.checkify(jax.vmap(step)))
    err, _ = checked(jnp.array([0, 4, 2]))
    err.throw()
    err, _ = checked(jnp.array([0, 5, 2]))
    with pytest.raises(checkify.JaxRuntimeError, match="out of range"):
        err.throw()
