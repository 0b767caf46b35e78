"""RL²-Transformer: the KV cache is emptied at each trial start (acting values == the loss's pass
over the trial so far), the config switch and its errors, bit-exact resume, learning a trivial
bandit and evaluating it through AD's in-context loop."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adjax import envs, rl2
from adjax.rl2.evaluate import network_trial_fn

# A 2-armed bandit, arm 1 always best; trials of 6 pulls over unrolls of 3 steps (the transformer
# needs unrolls that divide the trial), so 4 unrolls span two trials.
CFG = rl2.Config(env="bandit", network="transformer", tf_layers=1, tf_width=16, tf_heads=2,
                 num_trials=16, episodes_per_trial=6, unroll=3, lr=1e-2, log_every=2)
POOL = np.array([[0.2, 0.8]], np.float32)


@pytest.fixture(scope="module")
def bandit():
    env, _ = envs.make("bandit", num_arms=2)
    return env, rl2.trainer(CFG, env), jnp.asarray(POOL)


@pytest.fixture(scope="module")
def rollouts(bandit):
    """Four consecutive unrolls (12 steps = two trials) from a fresh state."""
    env, tr, pool = bandit
    roll = jax.jit(tr.rollout)
    state, out = tr.init(pool), []
    for u in range(4):
        new, tr_, last = roll(state, pool, jax.random.key(u))
        out.append((state, new, tr_, last))
        state = new
    return out


def test_acting_values_equal_the_loss_pass_over_the_trial(bandit, rollouts):
    """Each unroll's values as acted (one cached step at a time, the cache emptied at the trial
    start) = the loss's one causal pass over the trial's buffer: the context is exactly the
    trial so far, nothing of the trial before."""
    env, tr, pool = bandit
    replay = jax.jit(tr.core.replay)
    for state, after, t, _ in rollouts:
        logits, values = replay(state.params, state.carry, after.carry, t.x, t.reset, state.t)
        assert logits.shape == (CFG.unroll, CFG.num_trials, 2)
        np.testing.assert_allclose(np.asarray(values), np.asarray(t.value), atol=1e-5)
    reset = np.concatenate([np.asarray(t.reset) for _, _, t, _ in rollouts])
    np.testing.assert_array_equal(reset[:, 0], np.arange(12) % 6 == 0)
    cache = rollouts[-1][1].carry.cache  # after two whole trials: one trial's slots
    assert int(cache.length) == 6 and np.all(np.asarray(cache.pos_B) == 6)


def test_config_switch_and_errors(bandit):
    env = bandit[0]
    lstm = rl2.Config(env="bandit")
    assert "network" not in lstm.to_dict() and "tf_width" not in lstm.to_dict()  # as stored
    d = CFG.to_dict()
    assert d["network"] == "transformer" and rl2.Config.from_dict(d) == CFG
    assert rl2.preset("quick", "bandit", network="transformer").tf_width == 64
    with pytest.raises(ValueError, match="unroll=4 must divide the trial length 6"):
        rl2.trainer(dataclasses.replace(CFG, unroll=4), env)
    with pytest.raises(ValueError, match="network"):
        rl2.Config(network="gru")
    with pytest.raises(ValueError, match="tf_heads"):
        rl2.Config(network="transformer", tf_width=10, tf_heads=4)


@pytest.fixture(scope="module")
def runs(bandit, tmp_path_factory):
    """40 updates uninterrupted (dir a), and stopped after 20 then resumed (dir b)."""
    env, _, pool = bandit
    cfg = dataclasses.replace(CFG, num_updates=40, ckpt_every=40)
    root = tmp_path_factory.mktemp("rl2tf")
    whole = rl2.fit(cfg, root / "a", progress=False, env=env, pool=pool)
    rl2.fit(cfg, root / "b", stop_at=20, progress=False, env=env, pool=pool)
    resumed = rl2.fit(cfg, root / "b", progress=False, env=env, pool=pool)
    return cfg, root, whole, resumed


@pytest.mark.slow
def test_resume_gives_the_same_bits(bandit, runs):
    cfg, root, whole, resumed = runs
    assert int(resumed.update) == int(whole.update) == 40
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    cfg2, _, params, conf = rl2.load_run(root / "b")
    assert cfg2 == cfg and conf["update"] == 40
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(whole.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.slow
def test_training_on_a_trivial_bandit_improves_return(bandit, runs):
    """Arm 1 pays with 0.8, arm 0 with 0.2: a uniform policy earns 0.5 per pull; the frozen
    network, acting through AD's KV-cached evaluation loop, earns more."""
    env, _, pool = bandit
    cfg, root, whole, _ = runs
    recs = [json.loads(ln) for ln in (root / "a" / "metrics.jsonl").read_text().splitlines()]
    first = np.mean([r["return"] for r in recs[:3]])
    last = np.mean([r["return"] for r in recs[-3:]])
    assert first < 0.75 and last > first + 0.05 and last > 0.72, (first, last)
    fn, params = network_trial_fn(cfg, env, whole.params, 6)
    run = jax.jit(jax.vmap(fn, in_axes=(None, 0, None)))
    ret = np.asarray(run(params, jax.random.split(jax.random.key(0), 64),
                         env.with_task(env.default_params, pool[0])))
    assert ret.shape == (64, 6) and ret.mean() > 0.65, ret.mean()
