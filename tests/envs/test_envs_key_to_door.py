"""Dark Key-to-Door: key then door, at most 2 per episode, coincide and start-cell rules, resets."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adjax import envs
from adjax.envs.key_to_door import random_cell

NOOP, UP, RIGHT, DOWN, LEFT = range(5)
KEY = jax.random.key(0)


def start(x, y):
    """A fresh-episode state standing on (x, y)."""
    return envs.KeyToDoorState(time=jnp.int32(0), pos=jnp.array([x, y], jnp.int32),
                               has_key=jnp.bool_(False), door_done=jnp.bool_(False))


def pad(actions, length=50):
    return jnp.asarray(list(actions) + [NOOP] * (length - len(actions)), jnp.int32)


@pytest.fixture(scope="module")
def walk(key_to_door, rollout):
    """(key, door, start, actions) -> per-step rewards and observations of one 50-step episode."""
    env, params = key_to_door

    def run(key_cell, door_cell, start_cell, actions):
        p = env.with_task(params, [key_cell, door_cell])
        _, _, out = rollout(env, KEY, p, pad(actions), start(*start_cell))
        return out["reward"].tolist(), out["obs"].tolist()

    return run


def test_spaces_and_attributes(key_to_door):
    env, params = key_to_door
    assert (env.name, env.episode_len, env.num_actions) == ("key-to-door", 50, 5)
    assert params.task.shape == (2, 2) and params.task.dtype == jnp.int32
    assert env.observation_space(params).shape == (2,) and env.action_space(params).n == 5


def test_key_then_door(walk):
    r, obs = walk((2, 0), (2, 2), (0, 0), [RIGHT, RIGHT, DOWN, DOWN, UP, DOWN, UP, UP])
    assert obs[:4] == [[1, 0], [2, 0], [2, 1], [2, 2]]
    assert r[:8] == [0, 1, 0, 1, 0, 0, 0, 0] and sum(r) == 2


def test_door_before_key_pays_nothing(walk):
    acts = [RIGHT, RIGHT, LEFT, LEFT, DOWN, DOWN, UP, UP, RIGHT, RIGHT]
    r, obs = walk((0, 2), (2, 0), (0, 0), acts)
    assert obs[1] == [2, 0] and obs[5] == [0, 2] and obs[9] == [2, 0]
    assert r[:10] == [0, 0, 0, 0, 0, 1, 0, 0, 0, 1] and sum(r) == 2


def test_key_and_door_coincide(walk):
    r, _ = walk((1, 0), (1, 0), (0, 0), [RIGHT, NOOP, NOOP, LEFT, RIGHT])
    assert r[:5] == [1, 1, 0, 0, 0] and sum(r) == 2
    r, _ = walk((1, 0), (1, 0), (0, 0), [RIGHT, LEFT, RIGHT])
    assert r[:3] == [1, 0, 1]  # the door also pays on a later arrival


def test_start_on_key_or_door_pays_only_after_a_step_ends_there(walk):
    r, _ = walk((3, 3), (5, 5), (3, 3), [NOOP])
    assert r[:2] == [1, 0]
    r, _ = walk((3, 3), (5, 5), (3, 3), [RIGHT, LEFT])
    assert r[:2] == [0, 1]
    r, _ = walk((3, 3), (3, 3), (3, 3), [NOOP, NOOP, NOOP])
    assert r[:3] == [1, 1, 0]
    r, _ = walk((0, 0), (3, 3), (3, 3), [NOOP])  # on the door without the key
    assert sum(r) == 0


def test_walls_stop_moves(walk):
    _, obs = walk((8, 8), (7, 7), (0, 0), [LEFT, UP, 9, -3])
    assert obs[:4] == [[0, 0]] * 4


def test_truncation_resets_flags(key_to_door, rollout):
    env, params = key_to_door
    p = env.with_task(params, [[1, 0], [1, 0]])
    _, _, out = rollout(env, KEY, p, jnp.tile(pad([RIGHT, NOOP]), 2), start(0, 0))
    assert out["truncated"].tolist() == [(t + 1) % 50 == 0 for t in range(100)]
    assert not out["terminated"].any()
    assert out["reward"][:50].sum() == 2 and out["final_obs"][49].tolist() == [1, 0]


@pytest.fixture(scope="module")
def noop_run(key_to_door, rollout):
    """40 episodes of no-ops on key == door == (1, 0): (key) -> (starts int[41, 2], returns)."""
    env, params = key_to_door
    p = env.with_task(params, [[1, 0], [1, 0]])

    def run(key):
        obs0, _, out = rollout(env, key, p, jnp.zeros(50 * 40, jnp.int32))
        starts = np.concatenate([[np.asarray(obs0)], np.asarray(out["obs"][49::50])])
        return starts, np.asarray(out["reward"]).reshape(40, 50).sum(axis=1)

    return run


def test_random_start_each_episode_and_flags_reset(noop_run):
    starts, per_ep = noop_run(jax.random.key(3))
    assert len({tuple(s) for s in starts.tolist()}) > 20  # 41 episode starts, 81 cells
    assert np.all((starts >= 0) & (starts < 9))
    # no-ops: an episode pays iff it starts on the key (then 2, key == door), in every episode
    on_key = np.all(starts[:40] == [1, 0], axis=1)
    np.testing.assert_array_equal(per_ep, np.where(on_key, 2, 0))


def test_same_key_same_starts_other_key_other_starts(noop_run):
    a, b, c = noop_run(jax.random.key(3)), noop_run(jax.random.key(3)), noop_run(jax.random.key(4))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


def test_random_cell_is_uniform():
    keys = jax.random.split(jax.random.key(5), 81 * 400)
    cells = jax.jit(jax.vmap(lambda k: random_cell(k, 9)))(keys)
    counts = np.bincount(np.asarray(cells[:, 1] * 9 + cells[:, 0]), minlength=81)
    assert counts.shape == (81,) and counts.min() > 300 and counts.max() < 500  # 400 +- 5 sigma
    chi2 = ((counts - 400) ** 2 / 400).sum()
    assert chi2 < 140  # 80 dof: p < 1e-4 beyond


def test_at_most_two_per_episode_under_a_random_policy(key_to_door, rollout):
    env, params = key_to_door
    train, _ = envs.task_split("key-to-door")
    tasks = jnp.concatenate([jnp.asarray(train[:30]), jnp.array([[[4, 4], [4, 4]]] * 2)])
    stacked = jax.vmap(env.with_task, in_axes=(None, 0))(params, tasks)
    keys = jax.random.split(jax.random.key(7), tasks.shape[0])
    actions = jax.random.randint(jax.random.key(8), (tasks.shape[0], 50 * 20), 0, 5)
    _, _, out = jax.vmap(lambda k, p, a: rollout(env, k, p, a))(keys, stacked, actions)
    per_ep = np.asarray(out["reward"]).reshape(tasks.shape[0], 20, 50).sum(axis=2)
    assert per_ep.max() == 2 and per_ep.min() >= 0 and set(np.unique(per_ep)) <= {0, 1, 2}


def test_jit_equals_no_jit(key_to_door, rollout, rollout_python):
    env, params = key_to_door
    p = env.with_task(params, [[2, 3], [6, 1]])
    actions = jax.random.randint(jax.random.key(1), (52,), 0, 5)
    jax.tree.map(np.testing.assert_array_equal, rollout(env, KEY, p, actions),
                 rollout_python(env, KEY, p, actions))


def test_vmap_over_tasks_equals_loop(key_to_door, rollout):
    env, params = key_to_door
    _, test = envs.task_split("key-to-door")
    tasks = jnp.asarray(test[:4])
    keys = jax.random.split(jax.random.key(4), 4)
    actions = jax.random.randint(jax.random.key(2), (4, 100), 0, 5)
    stacked = jax.vmap(env.with_task, in_axes=(None, 0))(params, tasks)
    batched = jax.vmap(lambda k, p, a: rollout(env, k, p, a))(keys, stacked, actions)
    for i in range(4):
        one = rollout(env, keys[i], env.with_task(params, tasks[i]), actions[i])
        jax.tree.map(lambda b, o, i=i: np.testing.assert_array_equal(b[i], o), batched, one)
