"""UCB1: scores by hand, sublinear regret on a 2-arm bandit."""

import jax
import jax.numpy as jnp
import numpy as np

from adjax.sources import ucb


def test_scores_by_hand():
    counts = jnp.array([2.0, 0.0, 4.0])
    sums = jnp.array([1.0, 0.0, 3.0])
    s = ucb.ucb_scores(counts, sums, 6.0, 1.0)
    b = lambda n: np.sqrt(2 * np.log(6.0) / n)
    np.testing.assert_allclose([s[0], s[2]], [0.5 + b(2), 0.75 + b(4)], rtol=1e-6)
    assert np.isinf(s[1])


def test_regret_sublinear(bandit2):
    env, params = bandit2
    mus = jnp.array([[0.2, 0.8], [0.6, 0.4], [0.45, 0.55]], jnp.float32)
    cfg = ucb.Config(num_pulls=4000)
    train = jax.jit(jax.vmap(ucb.make_train(cfg, env)))
    ps = jax.vmap(lambda m: env.with_task(params, m))(mus)
    seeds = 8
    keys = jax.random.split(jax.random.key(0), seeds * len(mus))
    ps_rep = jax.tree.map(lambda x: jnp.repeat(x, seeds, 0), ps)
    state, hist = train(keys, ps_rep)
    assert hist.actions.shape == (seeds * len(mus), 1, 4000)
    mu = np.repeat(np.asarray(mus), seeds, 0)
    gap = mu.max(1, keepdims=True) - np.take_along_axis(mu, np.asarray(hist.actions[:, 0]), 1)
    regret = gap.cumsum(1).mean(0)
    assert regret[3999] < 0.5 * 10 * regret[399]  # sublinear: far below 10x over 10x the pulls
    random_regret = 4000 * (mu.max(1) - mu.mean(1)).mean()
    assert regret[3999] < 0.1 * random_regret
    expert = ucb.make_expert(cfg, env, num_episodes=50)
    h = jax.jit(jax.vmap(expert))(keys, state, ps_rep)
    best = np.asarray(mus).argmax(1).repeat(seeds)
    assert (np.asarray(h.actions[:, 0]) == best[:, None]).mean() > 0.9
