"""Dark Room and Dark Room Hard: rules by hand, optimum, jit/vmap/key equivalences, wrappers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.wrappers.purerl import LogWrapper

from adjax import envs

NOOP, UP, RIGHT, DOWN, LEFT = range(5)
KEY = jax.random.key(0)


def pad(actions, length=20, fill=NOOP):
    return jnp.asarray(list(actions) + [fill] * (length - len(actions)), jnp.int32)


def test_spaces_and_attributes(darkroom, darkroom_hard):
    env, params = darkroom
    assert (env.name, env.episode_len, env.num_actions, env.size) == ("darkroom", 20, 5, 9)
    assert darkroom_hard[0].name == "darkroom-hard" and darkroom_hard[0].size == 17
    space = env.observation_space(params)
    assert (space.low, space.high, space.shape, space.dtype) == (0, 8, (2,), jnp.int32)
    assert env.action_space(params).n == 5
    assert params.task.dtype == jnp.int32 and params.max_steps_in_episode == 20


def test_reach_goal_pays_every_step_on_it(darkroom, rollout):
    env, params = darkroom
    p = env.with_task(params, [4, 2])
    obs0, _, out = rollout(env, KEY, p, pad([UP, UP, NOOP, NOOP, DOWN, UP, RIGHT]))
    assert obs0.tolist() == [4, 4]
    assert out["obs"][:7].tolist() == [[4, 3], [4, 2], [4, 2], [4, 2], [4, 3], [4, 2], [5, 2]]
    assert out["reward"][:7].tolist() == [0, 1, 1, 1, 0, 1, 0]
    assert out["reward"].dtype == jnp.float32 and float(out["reward"].sum()) == 4
    # reward depends on the position after the move: leaving the goal pays nothing
    p_centre = env.with_task(params, [4, 4])
    _, _, out = rollout(env, KEY, p_centre, pad([NOOP, RIGHT, LEFT]))
    assert out["reward"][:3].tolist() == [1, 0, 1]


def test_walls_stop_moves_and_bad_actions_are_noops(darkroom, rollout):
    env, params = darkroom
    _, _, out = rollout(env, KEY, params, pad([LEFT] * 6 + [UP] * 6 + [7, -1, 5]))
    xs, ys = out["obs"][:, 0].tolist(), out["obs"][:, 1].tolist()
    assert xs[:6] == [3, 2, 1, 0, 0, 0] and ys[:6] == [4] * 6
    assert ys[6:12] == [3, 2, 1, 0, 0, 0] and xs[6:12] == [0] * 6
    assert out["obs"][12:15].tolist() == [[0, 0]] * 3  # out-of-range actions: no-ops
    assert out["reward"][:15].tolist() == [0] * 9 + [1] * 6  # default goal (0, 0)
    _, _, out = rollout(env, KEY, params, pad([RIGHT] * 6 + [DOWN] * 6))
    assert out["obs"][11].tolist() == [8, 8]


def test_truncation_and_reset_to_centre(darkroom, rollout):
    env, params = darkroom
    p = env.with_task(params, [4, 3])
    _, _, out = rollout(env, KEY, p, jnp.full(45, UP, jnp.int32))
    assert out["truncated"].tolist() == [(t + 1) % 20 == 0 for t in range(45)]
    assert not out["terminated"].any()
    assert out["obs"][19].tolist() == [4, 4] and out["final_obs"][19].tolist() == [4, 0]
    assert out["obs"][20].tolist() == [4, 3]  # first step of episode 2 moves from the centre
    assert out["reward"].reshape(-1, 5)[:8].sum(axis=1).tolist() == [1, 0, 0, 0, 1, 0, 0, 0]


def test_hard_pays_once_per_episode(darkroom_hard, rollout):
    env, params = darkroom_hard
    p = env.with_task(params, [8, 6])
    acts = pad([UP, UP, NOOP, DOWN, UP, NOOP], 20)
    _, _, out = rollout(env, KEY, p, jnp.concatenate([acts, acts]))
    assert out["reward"][:6].tolist() == [0, 1, 0, 0, 0, 0]
    assert out["reward"].reshape(2, 20).sum(axis=1).tolist() == [1, 1]  # goal flag resets
    assert out["obs"][19].tolist() == [8, 8]
    _, _, out = rollout(env, KEY, env.with_task(params, [8, 8]), pad([NOOP, NOOP]))
    assert out["reward"][:3].tolist() == [1, 0, 0]  # start on the goal: first step there pays


def oracle_action(pos, goal):
    """Shortest path: fix x, then y, then stay."""
    dx, dy = goal[0] - pos[0], goal[1] - pos[1]
    return jnp.where(dx > 0, RIGHT, jnp.where(dx < 0, LEFT,
                     jnp.where(dy > 0, DOWN, jnp.where(dy < 0, UP, NOOP))))


def oracle_return(env, params):
    def body(carry, _):
        obs, state = carry
        obs, state, r, *_ = env.step(KEY, state, oracle_action(obs, params.task), params)
        return (obs, state), r

    _, r = jax.lax.scan(body, env.reset(KEY, params), None, length=env.episode_len)
    return r.sum()


@pytest.mark.parametrize("name", ["darkroom", "darkroom-hard"])
def test_optimal_return_matches_oracle_for_every_goal(name):
    env, params = envs.make(name)
    w = env.size
    goals = jnp.stack(jnp.meshgrid(jnp.arange(w), jnp.arange(w), indexing="xy"), -1).reshape(-1, 2)
    stacked = jax.vmap(env.with_task, in_axes=(None, 0))(params, goals)
    got = jax.jit(jax.vmap(lambda p: oracle_return(env, p)))(stacked)
    want = jax.vmap(lambda g: envs.optimal_return(name, g))(goals)
    np.testing.assert_array_equal(got, want)
    if name == "darkroom":
        d = np.abs(np.asarray(goals) - 4).sum(axis=1)
        np.testing.assert_array_equal(want, np.minimum(20, 21 - d))
        assert float(want.max()) == 20 and float(want.min()) == 13
    else:
        assert np.all(np.asarray(want) == 1)


@pytest.mark.parametrize("name", ["darkroom", "darkroom-hard"])
def test_jit_equals_no_jit(name, rollout, rollout_python):
    env, params = envs.make(name)
    p = env.with_task(params, [env.size // 2 + 1, env.size // 2 - 1])
    actions = jax.random.randint(jax.random.key(1), (22,), 0, 5)
    jitted = rollout(env, KEY, p, actions)
    plain = rollout_python(env, KEY, p, actions)
    jax.tree.map(np.testing.assert_array_equal, jitted, plain)


def test_vmap_over_tasks_equals_loop_and_step_ignores_key(darkroom, rollout):
    env, params = darkroom
    train, _ = envs.task_split("darkroom")
    tasks = jnp.asarray(train[:6])
    actions = jax.random.randint(jax.random.key(2), (6, 25), 0, 5)
    stacked = jax.vmap(env.with_task, in_axes=(None, 0))(params, tasks)
    batched = jax.vmap(lambda p, a: rollout(env, KEY, p, a))(stacked, actions)
    for i in range(6):
        one = rollout(env, KEY, env.with_task(params, tasks[i]), actions[i])
        jax.tree.map(lambda b, o, i=i: np.testing.assert_array_equal(b[i], o), batched, one)
    one_a = rollout(env, KEY, env.with_task(params, tasks[0]), actions[0])
    one_b = rollout(env, jax.random.key(99), env.with_task(params, tasks[0]), actions[0])
    jax.tree.map(np.testing.assert_array_equal, one_a, one_b)


def test_log_wrapper_and_stacked_params(darkroom):
    env, params = darkroom
    wrapped = LogWrapper(env)
    tasks = jnp.array([[4, 2], [4, 4], [0, 0]], jnp.int32)
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *[env.with_task(params, t) for t in tasks])

    def run(p):
        obs, state = wrapped.reset(KEY, p)

        def body(carry, _):
            obs, state = carry
            obs, state, r, term, trunc, info = wrapped.step(KEY, state, oracle_action(obs, p.task),
                                                            p)
            return (obs, state), info["returned_episode_returns"]

        _, ret = jax.lax.scan(body, (obs, state), None, length=40)
        return ret

    ret = jax.jit(jax.vmap(run))(stacked)
    assert ret[:, 19].tolist() == [19, 20, 13] and ret[:, 39].tolist() == [19, 20, 13]


def test_envs_hash_equal_and_share_compiled_step():
    a, pa = envs.make("darkroom")
    b, _ = envs.make("darkroom")
    c, _ = envs.make("darkroom", size=7)
    assert a == b and hash(a) == hash(b) and a != c and a != envs.make("darkroom-hard")[0]
    obs, state = a.reset(KEY, pa)
    a.step(KEY, state, 1, pa)
    size = type(a).step._cache_size()
    b.step(KEY, state, 1, pa)
    assert type(a).step._cache_size() == size
