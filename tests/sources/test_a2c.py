"""A2C: GAE and loss against hand-computed numbers, history layout, vmap == loop, learning; on
Watermaze, histories of the renderer state it acted on."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adjax import envs
from adjax.sources import a2c
from adjax.sources.common import observer

CFG = a2c.Config(num_actors=8, num_updates=150, lr=3e-3, hidden=(32, 32))
GOALS = np.array([[2, 2], [0, 1]], np.int32)


@pytest.fixture(scope="module")
def run(darkroom3):
    env, params = darkroom3
    train = a2c.make_train(CFG, env)
    ps = jax.vmap(lambda g: env.with_task(params, g))(jnp.asarray(GOALS))
    keys = jax.random.split(jax.random.key(0), len(GOALS))
    state, hist = jax.jit(jax.vmap(train))(keys, ps)
    return env, params, train, keys, state, hist


def test_gae_by_hand():
    g, lam = 0.5, 0.5
    r = jnp.array([1.0, 0.0, 2.0])
    v = jnp.array([0.5, 1.0, 1.5])
    nv = jnp.array([1.0, 4.0, 2.0])  # step 1 is truncated: next value is V(final obs) = 4
    term = jnp.zeros(3)
    done = jnp.array([0.0, 1.0, 0.0])
    adv, tgt = a2c.gae(r, v, nv, term, done, g, lam)
    d = [1 + 0.5 * 1 - 0.5, 0 + 0.5 * 4 - 1.0, 2 + 0.5 * 2 - 1.5]  # 1.0, 1.0, 1.5
    want = [d[0] + 0.25 * d[1], d[1], d[2]]  # the recursion is cut after the truncated step
    np.testing.assert_allclose(adv, want, rtol=1e-6)
    np.testing.assert_allclose(tgt, np.array(want) + np.asarray(v), rtol=1e-6)
    adv_t, _ = a2c.gae(r, v, nv, jnp.array([0.0, 1.0, 0.0]), done, g, lam)
    np.testing.assert_allclose(adv_t[1], 0 - 1.0, rtol=1e-6)  # terminated: no bootstrap


def test_loss_by_hand():
    logits = jnp.log(jnp.array([[0.5, 0.25, 0.25], [0.2, 0.6, 0.2]]))
    values = jnp.array([1.0, 2.0])
    actions = jnp.array([0, 1])
    adv = jnp.array([2.0, -1.0])
    tgt = jnp.array([1.5, 1.0])
    total, (pg, vf, ent) = a2c.a2c_loss(logits, values, actions, adv, tgt, 0.01, 0.5)
    want_pg = -(np.log(0.5) * 2.0 + np.log(0.6) * -1.0) / 2
    want_vf = (0.25 + 1.0) / 2
    h = lambda p: -np.sum(p * np.log(p))
    want_ent = (h(np.array([0.5, 0.25, 0.25])) + h(np.array([0.2, 0.6, 0.2]))) / 2
    np.testing.assert_allclose([pg, vf, ent], [want_pg, want_vf, want_ent], rtol=1e-5)
    np.testing.assert_allclose(total, want_pg + 0.5 * want_vf - 0.01 * want_ent, rtol=1e-5)


def test_history_layout(run):
    env, params, *_, hist = run
    T = CFG.num_updates * CFG.unroll
    assert hist.obs.shape == (len(GOALS), CFG.num_actors, T, 2)
    assert hist.actions.shape == hist.rewards.shape == (len(GOALS), CFG.num_actors, T)
    obs, act, rew = (np.asarray(x[1, 3]) for x in (hist.obs, hist.actions, hist.rewards))
    p = env.with_task(params, GOALS[1])
    o, s = env.reset(jax.random.key(0), p)
    step = jax.jit(env.step)
    for t in range(50):
        if t % env.episode_len == 0:
            np.testing.assert_array_equal(obs[t], [1, 1])
        np.testing.assert_array_equal(obs[t], np.asarray(o))
        o, s, r, *_ = step(jax.random.key(t), s, jnp.int32(act[t]), p)
        assert float(r) == rew[t]


def test_vmap_equals_loop(run):
    env, params, train, keys, state, hist = run
    short = a2c.make_train(a2c.Config(num_actors=4, num_updates=5, hidden=(16,)), env)
    ps = jax.vmap(lambda g: env.with_task(params, g))(jnp.asarray(GOALS))
    _, hv = jax.jit(jax.vmap(short))(keys, ps)
    f = jax.jit(short)
    for i in range(len(GOALS)):
        _, h = f(keys[i], env.with_task(params, GOALS[i]))
        np.testing.assert_array_equal(np.asarray(h.actions), np.asarray(hv.actions[i]))
        np.testing.assert_array_equal(np.asarray(h.obs), np.asarray(hv.obs[i]))


def test_learns_small_darkroom(run):
    *_, hist = run
    R = np.asarray(hist.rewards).reshape(len(GOALS), CFG.num_actors, -1, 20).sum(-1).mean(1)
    opt = np.minimum(20, 21 - np.abs(GOALS - 1).sum(1))
    assert (R[:, :3].mean(1) < 0.6 * opt).all()
    assert (R[:, -10:].mean(1) >= 0.9 * opt).all(), R[:, -10:].mean(1) / opt


def test_expert_rollout(run):
    env, params, _, keys, state, _ = run
    expert = a2c.make_expert(CFG, env, num_episodes=4)
    ps = jax.vmap(lambda g: env.with_task(params, g))(jnp.asarray(GOALS))
    h = jax.jit(jax.vmap(expert))(keys, state, ps)
    assert h.actions.shape == (len(GOALS), 1, 80)
    R = np.asarray(h.rewards).reshape(len(GOALS), 4, 20).sum(-1).mean(1)
    assert (R >= 0.85 * np.minimum(20, 21 - np.abs(GOALS - 1).sum(1))).all()


@pytest.fixture(scope="module")
def watermaze_run():
    """A2C reading Watermaze's state (not its frames): 2 platforms x 2 actors x 3 episodes."""
    env, params = envs.make("watermaze", height=12, width=16)
    tasks = jnp.asarray(envs.tasks_for("watermaze", "train")[0][:2])
    ps = jax.vmap(env.with_task, in_axes=(None, 0))(params, tasks)
    cfg = a2c.Config(num_actors=2, num_updates=3, unroll=50, hidden=(16,))
    _, hist = jax.jit(jax.vmap(a2c.make_train(cfg, env)))(
        jax.random.split(jax.random.key(0), 2), ps)
    return env, ps, hist


def test_on_watermaze_the_history_is_the_renderer_state_each_action_was_chosen_in(watermaze_run):
    env, ps, hist = watermaze_run
    obs, act, rew = (np.asarray(x) for x in (hist.obs, hist.actions, hist.rewards))
    assert obs.shape == (2, 2, 150, 3) and obs.dtype == np.float32  # (x, y, heading) per step
    starts = obs[:, :, ::50]
    np.testing.assert_array_equal(starts[..., :2], 0.0)  # every episode starts at the centre
    assert ((starts[..., 2] >= 0) & (starts[..., 2] < 2 * np.pi)).all()
    # within an episode, the next record is this one moved by the recorded action
    t = np.array([t for t in range(149) if (t + 1) % 50])
    here, nxt, a = obs[:, :, t], obs[:, :, t + 1], act[:, :, t]
    state = envs.WatermazeState(time=jnp.zeros(here.shape[:-1], jnp.int32),
                                pos=jnp.asarray(here[..., :2]), heading=jnp.asarray(here[..., 2]),
                                found=jnp.zeros(here.shape[:-1], bool))
    moved = jax.vmap(jax.vmap(jax.vmap(env._transition, in_axes=(0, 0, None)),
                              in_axes=(0, 0, None)), in_axes=(0, 0, 0))(state, jnp.asarray(a), ps)
    np.testing.assert_allclose(np.asarray(moved[0].pos), nxt[..., :2], atol=1e-6)
    np.testing.assert_allclose(np.asarray(moved[0].heading), nxt[..., 2], atol=1e-6)
    assert set(np.unique(rew)) <= {0.0, 1.0}
    assert (rew.reshape(2, 2, 3, 50).sum(-1) <= 1).all()  # the platform pays once per episode


def test_watermaze_source_features_are_position_and_heading_on_the_circle():
    env, _ = envs.make("watermaze", height=12, width=16)
    f = np.asarray(env.source_features(jnp.array([0.25, -0.5, np.pi / 2], jnp.float32)))
    np.testing.assert_allclose(f, [0.25, -0.5, 0.0, 1.0], atol=1e-7)
    obs_fn = observer(env)
    assert obs_fn.dim == 4
    _, state = env.reset(jax.random.key(0), env.default_params)
    np.testing.assert_array_equal(np.asarray(obs_fn.record(None, state)),
                                  np.asarray(env.stored_obs(state)))
