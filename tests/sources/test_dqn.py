"""DQN with Q(lambda): returns by hand, the paper's preset, config errors; the learner at a tiny
size (slow): stream layout against the env's rules, replay of renderer state, determinism."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adjax import envs
from adjax.envs.watermaze import MAX_RADIUS, PLATFORM_RADIUS
from adjax.sources import dqn

Q_NEXT = jnp.array([[1.0, 2.0], [0.0, 3.0], [2.0, 0.0]])  # max 2, 3, 2
R = jnp.array([0.0, 1.0, 0.0])
D = jnp.full(3, 0.9)


def returns(lams):
    return np.asarray(dqn.q_lambda_returns(R, D, Q_NEXT, jnp.asarray(lams, jnp.float32)))


def test_q_lambda_by_hand():
    # G2 = 0 + .9 * 2 = 1.8; G1 = 1 + .9 (.25 * 3 + .75 * 1.8) = 2.89;
    # G0 = 0 + .9 (.25 * 2 + .75 * 2.89) = 2.40075
    np.testing.assert_allclose(returns([0.75] * 3), [2.40075, 2.89, 1.8], rtol=1e-6)


def test_q_lambda_cut_at_episode_end_and_limits():
    # step 1 ends an episode (lambda 0 there): G1 = 1 + .9 * 3 = 3.7, G0 = .9 (.5 + .75 * 3.7)
    np.testing.assert_allclose(returns([0.75, 0.0, 0.75]), [2.9475, 3.7, 1.8], rtol=1e-6)
    # lambda 0: one-step Q-learning targets r + gamma max Q'
    np.testing.assert_allclose(returns([0.0] * 3), [1.8, 3.7, 1.8], rtol=1e-6)
    # lambda 1: discounted rewards with one bootstrap at the end: .9 (1 + .9 * 1.8)
    np.testing.assert_allclose(returns([1.0] * 3), [2.358, 2.62, 1.8], rtol=1e-6)


def test_q_lambda_loss_value_and_fixed_targets():
    q = jnp.array([[1.0, 0.0], [0.0, 2.0]])
    a = jnp.array([0, 1])
    g = jnp.array([2.0, 1.0])
    assert float(dqn.q_lambda_loss(q, a, g)) == pytest.approx(0.5 * (1 + 1) / 2)
    dq, dg = jax.grad(dqn.q_lambda_loss, argnums=(0, 2))(q, a, g)
    np.testing.assert_allclose(dq, [[-0.5, 0.0], [0.0, 0.5]])  # (q_a - G) / n on the taken action
    np.testing.assert_array_equal(dg, 0.0)  # returns are targets


def test_paper_preset():
    c = dqn.Config()
    assert (c.num_actors, c.batch_size, c.rollout, c.overlap, c.replay_size) == (16, 8, 40, 31,
                                                                               100_000)
    assert (c.offline_fraction, c.lam, c.epsilon, c.eps_start, c.gamma) == (0.7, 0.75, 0.01,
                                                                           0.01, 0.9)
    assert (c.target_period, c.channels, c.lr, c.max_grad_norm) == (50, (32, 64, 64), 1e-4, 10.0)
    assert c.period == 9 and c.num_online == 2  # round(8 * 0.3) online rollouts, 6 replayed
    assert float(dqn.epsilon(c, 0)) == float(dqn.epsilon(c, 1000)) == pytest.approx(0.01)


def test_epsilon_decay():
    c = dqn.cpu_config()
    eps = [float(dqn.epsilon(c, e)) for e in (0, 10, 20, 99)]
    np.testing.assert_allclose(eps, [0.3, 0.155, 0.01, 0.01], rtol=1e-5)
    assert c.period == 9 and (c.rollout, c.overlap) == (20, 11)


@pytest.mark.parametrize("field, value, match", [
    ("overlap", 40, "overlap=40"),
    ("num_actors", 0, "num_actors=0"),
    ("lam", 1.5, "lam=1.5"),
    ("offline_fraction", 0.0, "8 online rollouts"),
    ("replay_size", 100, "replay_size=100"),
])
def test_config_errors_name_the_field(field, value, match):
    cfg = dataclasses.replace(dqn.Config(), **{field: value})
    if field == "offline_fraction":
        cfg = dataclasses.replace(cfg, num_actors=4)
    with pytest.raises(ValueError, match=match):
        dqn.check_config(cfg)


def test_needs_an_env_that_stores_state():
    env, _ = envs.make("darkroom")
    with pytest.raises(ValueError, match="stored_obs"):
        dqn.make_train(dqn.Config(), env)


# The learner at a tiny size: 2 platforms, 4 actors, rollout 10 (period 4), 6x8 frames.
TINY = dqn.cpu_config(num_actors=4, num_episodes=4, rollout=10, overlap=6, batch_size=4,
                      replay_size=800, channels=(4,), hidden=8, target_period=3, eps_start=1.0,
                      eps_decay_episodes=2)
PLATFORMS = np.array([[0.2, 0.1], [-0.3, 0.3]], np.float32)


@pytest.fixture(scope="module")
def learned():
    env, params = envs.make("watermaze", height=6, width=8)
    train = jax.jit(jax.vmap(dqn.make_train(TINY, env)))
    ps = jax.vmap(lambda t: env.with_task(params, t))(jnp.asarray(PLATFORMS))
    keys = jax.random.split(jax.random.key(0), 2)
    return env, ps, train, keys, train(keys, ps)


@pytest.mark.slow
def test_streams_follow_the_env_rules(learned):
    """Each actor's history is a Watermaze stream: stored (x, y, heading) of the state each action
    was chosen in; reset to the centre every 50 steps; moves of 0.1 at most; a reward exactly the
    first time per episode the position after the action is within 0.15 of the platform."""
    env, ps, train, keys, (state, hist) = learned
    T = TINY.num_episodes * 50
    assert hist.obs.shape == (2, 4, T, 3) and hist.obs.dtype == jnp.float32
    assert hist.actions.shape == hist.rewards.shape == (2, 4, T)
    assert int(state.updates[0]) == -(-T // 4) - -(-10 // 4)  # one per iteration after warm-up
    pos = np.asarray(hist.obs[..., :2])
    np.testing.assert_array_equal(pos[:, :, ::50], 0.0)  # centre at every episode start
    assert np.all(np.linalg.norm(pos, axis=-1) <= MAX_RADIUS + 1e-6)
    # the position after action t is obs[t + 1] within an episode; check the rewards with it
    after = pos.reshape(2, 4, -1, 50, 2)[:, :, :, 1:]
    near = np.linalg.norm(after - PLATFORMS[:, None, None, None], axis=-1) <= PLATFORM_RADIUS
    first = near & (np.cumsum(near, axis=-1) == 1)
    r = np.asarray(hist.rewards).reshape(2, 4, -1, 50)[..., :-1]
    np.testing.assert_array_equal(r, first.astype(np.float32))
    # replay holds the same stored states, each actor's steps in order
    rp = state.replay.experience.obs  # [tasks, N, time, 3]
    np.testing.assert_array_equal(np.asarray(rp[:, :, :T]), np.asarray(hist.obs))


@pytest.mark.slow
def test_same_key_same_bits_and_target_copies(learned):
    env, ps, train, keys, (state, hist) = learned
    state2, hist2 = train(keys, ps)
    for a, b in zip(jax.tree.leaves((state.params, hist)), jax.tree.leaves((state2.params, hist2)),
                    strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # updates % target_period == 0 -> the target is the online network
    same = int(state.updates[0]) % TINY.target_period == 0
    eq = all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(state.params),
                                                 jax.tree.leaves(state.target), strict=True))
    assert eq == same
    assert not np.array_equal(np.asarray(hist.actions[0]), np.asarray(hist.actions[1]))
