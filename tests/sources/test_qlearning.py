"""Tabular Q-learning: rules by hand, layout against an env replay, vmap == loop, learning."""

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adjax import envs
from adjax.sources import qlearning

CFG = qlearning.Config(num_episodes=60, eps_decay_frac=0.5)
GOALS = np.array([[2, 2], [0, 0], [1, 2]], np.int32)


@pytest.fixture(scope="module")
def run(darkroom3):
    env, params = darkroom3
    train = qlearning.make_train(CFG, env)
    ps = jax.vmap(lambda g: env.with_task(params, g))(jnp.asarray(GOALS))
    keys = jax.random.split(jax.random.key(0), len(GOALS))
    state, hist = jax.jit(jax.vmap(train))(keys, ps)
    return env, params, train, keys, state, hist


def test_td_target_by_hand():
    q = jnp.array([0.5, 2.0, -1.0])
    assert float(qlearning.td_target(1.0, q, 0.0, 0.9)) == pytest.approx(1.0 + 0.9 * 2.0)
    assert float(qlearning.td_target(1.0, q, 1.0, 0.9)) == pytest.approx(1.0)


def test_epsilon_schedule():
    cfg = qlearning.Config(num_episodes=100, eps_start=1.0, eps_end=0.1, eps_decay_frac=0.5)
    eps = [float(qlearning.epsilon(cfg, jnp.float32(e))) for e in (0, 25, 50, 99)]
    np.testing.assert_allclose(eps, [1.0, 0.55, 0.1, 0.1], rtol=1e-6)


def test_select_action_greedy_random_and_ties():
    bits = jax.random.bits(jax.random.key(1), (4000,), jnp.uint32)
    sel = jax.vmap(qlearning.select_action, in_axes=(None, 0, None))
    q = jnp.array([0.0, 3.0, 1.0, 3.0, 2.0])
    greedy = np.asarray(sel(q, bits, 0.0))
    assert set(greedy.tolist()) == {1, 3}  # only the tied maxima, both of them
    assert 0.4 < (greedy == 1).mean() < 0.6
    rand = np.asarray(sel(q, bits, 1.0))
    np.testing.assert_allclose(np.bincount(rand, minlength=5) / 4000, 0.2, atol=0.03)


def test_history_shapes(run):
    *_, hist = run
    T = CFG.num_episodes * 20
    assert hist.obs.shape == (len(GOALS), 1, T, 2) and hist.obs.dtype == jnp.int32
    assert hist.actions.shape == (len(GOALS), 1, T) and hist.actions.dtype == jnp.int32
    assert hist.rewards.shape == (len(GOALS), 1, T) and hist.rewards.dtype == jnp.float32


def test_history_replays_in_env(run):
    """o_t is what a_t was chosen on; r_t follows a_t; episodes restart at the centre every L."""
    env, params, *_, hist = run
    p = env.with_task(params, GOALS[0])
    obs, actions, rewards = (np.asarray(x[0, 0]) for x in (hist.obs, hist.actions, hist.rewards))
    o, s = env.reset(jax.random.key(0), p)
    step = jax.jit(env.step)
    for t in range(60):
        if t % env.episode_len == 0:
            np.testing.assert_array_equal(obs[t], [1, 1])
        np.testing.assert_array_equal(obs[t], np.asarray(o))
        o, s, r, *_ = step(jax.random.key(t), s, jnp.int32(actions[t]), p)
        assert float(r) == rewards[t]


def test_vmap_equals_loop(run):
    env, params, train, keys, _, hist = run
    f = jax.jit(train)
    for i in range(len(GOALS)):
        _, h = f(keys[i], env.with_task(params, GOALS[i]))
        np.testing.assert_array_equal(np.asarray(h.actions), np.asarray(hist.actions[i]))
        np.testing.assert_array_equal(np.asarray(h.rewards), np.asarray(hist.rewards[i]))


def test_learns_small_darkroom(run):
    *_, hist = run
    R = np.asarray(hist.rewards).reshape(len(GOALS), CFG.num_episodes, 20).sum(-1)
    opt = np.minimum(20, 21 - np.abs(GOALS - 1).sum(1))
    assert (R[:, :5].mean(1) < 0.5 * opt).all()
    assert (R[:, -10:].mean(1) >= 0.9 * opt).all(), R[:, -10:].mean(1)


def test_expert_is_greedy_and_optimal(run):
    env, params, _, keys, state, _ = run
    expert = qlearning.make_expert(CFG, env, num_episodes=3)
    h = jax.jit(jax.vmap(expert))(keys, state, jax.vmap(lambda g: env.with_task(params, g))(
        jnp.asarray(GOALS)))
    R = np.asarray(h.rewards).reshape(len(GOALS), 3, 20).sum(-1)
    opt = np.minimum(20, 21 - np.abs(GOALS - 1).sum(1))
    np.testing.assert_array_equal(R, np.repeat(opt[:, None], 3, 1))


def test_backward_replay_by_hand(darkroom3):
    """One random episode: forward updates while acting, then the same updates last step first."""
    env, params = darkroom3
    cfg = qlearning.Config(num_episodes=1, lr=0.5, gamma=0.9, eps_start=1.0, eps_end=1.0,
                           q_init=0.0, backward_replay=True)
    p = env.with_task(params, jnp.array([1, 2], jnp.int32))  # next to the centre
    state, hist = jax.jit(qlearning.make_train(cfg, env))(jax.random.key(4), p)
    obs, actions, rewards = (np.asarray(x[0]) for x in (hist.obs, hist.actions, hist.rewards))
    assert rewards.sum() > 0  # the walk found the goal, so there is something to carry back
    _, s = env.reset(jax.random.key(0), p)
    nxt = []
    for a in actions:
        _, s, _, _, _, info = env.step(jax.random.key(0), s, int(a), p)
        nxt.append(np.asarray(info["final_observation"]))
    idx = lambda o: int(o[0]) * 3 + int(o[1])  # noqa: E731 - row-major over (x, y)
    q = np.zeros((9, 5), np.float64)
    steps = list(zip(obs, actions, rewards, nxt, strict=True))
    for o, a, r, o2 in steps + steps[::-1]:
        q[idx(o), a] += cfg.lr * (r + cfg.gamma * q[idx(o2)].max() - q[idx(o), a])
    np.testing.assert_allclose(np.asarray(state.q[0]), q, rtol=1e-5, atol=1e-6)
    without, _ = jax.jit(qlearning.make_train(replace(cfg, backward_replay=False), env))(
        jax.random.key(4), p)
    assert not np.allclose(np.asarray(without.q[0]), q)  # the replay did change the table


def test_reward_levels_by_hand():
    """reward_levels=2 on Key-to-Door: the state is (cell, got a reward yet this episode), the
    count resets with each episode, and bootstrapping uses the count after the step."""
    from adjax.envs.key_to_door import KeyToDoor

    env = KeyToDoor(size=3, episode_len=12)
    params = env.with_task(env.default_params, jnp.array([[0, 0], [2, 2]], jnp.int32))
    cfg = qlearning.Config(num_episodes=3, lr=0.5, gamma=0.9, eps_start=1.0, eps_end=1.0,
                           q_init=0.5, reward_levels=2)
    state, hist = jax.jit(qlearning.make_train(cfg, env))(jax.random.key(1), params)
    assert state.q.shape == (1, 9 * 2, 5)
    obs, actions, rewards = (np.asarray(x[0]) for x in (hist.obs, hist.actions, hist.rewards))
    assert rewards.sum() > 0
    q = np.full((18, 5), 0.5, np.float64)
    count = 0
    for t, (o, a, r) in enumerate(zip(obs, actions, rewards, strict=True)):
        s = (int(o[0]) * 3 + int(o[1])) * 2 + min(count, 1)
        count += int(r > 0)
        last = (t + 1) % env.episode_len == 0
        # the next cell: the following observation, unless this step ended the episode (reset)
        o2 = obs[t + 1] if not last else None
        if o2 is None:  # recover the pre-reset cell from the action (walls stop moves)
            dx, dy = {0: (0, 0), 1: (0, -1), 2: (1, 0), 3: (0, 1), 4: (-1, 0)}[int(a)]
            o2 = np.clip(o + np.array([dx, dy]), 0, 2)
        s2 = (int(o2[0]) * 3 + int(o2[1])) * 2 + min(count, 1)
        q[s, a] += cfg.lr * (r + cfg.gamma * q[s2].max() - q[s, a])
        if last:
            count = 0
    np.testing.assert_allclose(np.asarray(state.q[0]), q, rtol=1e-5, atol=1e-6)
    assert (q[1::2] != 0.5).any()  # the has-key half of the table was used


def test_reward_levels_is_checked(darkroom3):
    env, _ = darkroom3
    with pytest.raises(ValueError, match="reward_levels"):
        qlearning.make_train(replace(CFG, reward_levels=0), env)


def test_watermaze_cells_by_hand():
    """Position squares of 0.2 across [-0.9, 0.9] (9 per axis, the edge one clipped in) and 16
    heading sectors of pi/8: cell = (y_bin * 9 + x_bin) * 16 + heading sector."""
    env, _ = envs.make("watermaze", height=4, width=4)
    assert env.source_bins == 9 and env.num_source_cells == 9 * 9 * 16
    cell = jax.jit(env.source_cell)
    for (x, y, h), want in [((0.0, 0.0, 0.0), (4 * 9 + 4) * 16),
                            ((-0.9, -0.9, 0.01), 0),
                            ((0.9, 0.9, 2 * np.pi - 0.01), 9 * 9 * 16 - 1),
                            ((0.25, -0.55, np.pi / 8 * 3 + 0.01), (1 * 9 + 5) * 16 + 3)]:
        assert int(cell(jnp.array([x, y, h], jnp.float32))) == want, (x, y, h)


def test_watermaze_streams_record_state_and_learn():
    """On Watermaze the learner's histories hold the stored state (x, y, heading) the action was
    chosen in, replaying in the env, and its success on one platform rises."""
    env, params = envs.make("watermaze", height=4, width=4)
    cfg = qlearning.Config(num_episodes=120, num_streams=8, lr=0.5, gamma=0.9, eps_start=0.05,
                           eps_end=0.05, q_init=0.0, backward_replay=True, reward_levels=2)
    p = env.with_task(params, jnp.array([-0.5, 0.1], jnp.float32))
    _, hist = jax.jit(qlearning.make_train(cfg, env))(jax.random.key(1), p)
    L = env.episode_len
    assert hist.obs.shape == (8, 120 * L, 3) and hist.obs.dtype == jnp.float32
    obs, actions, rewards = (np.asarray(x[0]) for x in (hist.obs, hist.actions, hist.rewards))
    _, s = env.reset(jax.random.key(0), p)
    s = s.replace(pos=jnp.asarray(obs[0, :2]), heading=jnp.asarray(obs[0, 2]))
    step = jax.jit(env.step)
    for t in range(L):
        np.testing.assert_array_equal(np.asarray(env.stored_obs(s)), obs[t])
        _, s, r, *_ = step(jax.random.key(t), s, jnp.int32(actions[t]), p)
        assert float(r) == rewards[t]
    hit = np.asarray(hist.rewards).reshape(8, 120, L).any(-1).mean(0)
    assert hit[-30:].mean() > hit[:30].mean() + 0.2, (hit[:30].mean(), hit[-30:].mean())
