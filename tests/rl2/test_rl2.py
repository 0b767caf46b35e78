"""RL²: shapes, the LSTM state's lifetime (kept across a trial's episodes, reset between trials),
GAE and the A2C loss on hand-computed cases, bit-exact resume, learning a trivial bandit."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adjax import envs, rl2
from adjax.checkpoints import RunConfigError
from adjax.evaluate import episode_returns_by_done, in_context_trace
from adjax.rl2.evaluate import RL2Agent, trial_fn
from adjax.rl2.network import input_dim, replay, step_input, zero_carry
from adjax.sources.a2c import a2c_loss

# One config for every test that trains, so they share one compiled update chunk (fit's chunks
# are log_every = 2 updates): a 2-armed bandit, arm 1 always best; trials of 6 pulls over unrolls
# of 4 steps, so trial boundaries fall inside unrolls.
CFG = rl2.Config(env="bandit", hidden=(16,), num_trials=16, episodes_per_trial=6, unroll=4,
                 lr=1e-2, log_every=2)
POOL = np.array([[0.2, 0.8]], np.float32)


@pytest.fixture(scope="module")
def bandit():
    env, _ = envs.make("bandit", num_arms=2)
    tr = rl2.trainer(CFG, env)
    return env, tr, jnp.asarray(POOL)


@pytest.fixture(scope="module")
def rollouts(bandit):
    """Three consecutive unrolls (12 steps = two trials) from a fresh state."""
    env, tr, pool = bandit
    roll = jax.jit(tr.rollout)
    state = tr.init(pool)
    out = []
    for u in range(3):
        new, tr_, last = roll(state, pool, jax.random.key(u))
        out.append((state, tr_, last))
        state = new
    return out


def test_shapes_and_initial_state(bandit, rollouts):
    env, tr, pool = bandit
    state, tr0, last = rollouts[0]
    N, U, H = CFG.num_trials, CFG.unroll, CFG.hidden[0]
    assert [(c.shape, h.shape) for c, h in state.carry] == [((N, H), (N, H))]
    assert state.obs.shape == (N, 1) and state.tasks.shape == (N, 2)
    assert np.all(np.asarray(state.prev_action) == env.num_actions)  # "none" before a trial
    D = input_dim((1,), env.num_actions)
    assert tr0.x.shape == (U, N, D) and tr0.action.shape == (U, N) and tr0.value.shape == (U, N)
    assert last.shape == (N,)
    assert np.all((np.asarray(tr0.action) >= 0) & (np.asarray(tr0.action) < env.num_actions))


def test_rollout_resets_at_trial_starts_and_loss_replay_agrees(bandit, rollouts):
    env, tr, pool = bandit
    T = CFG.trial_len(env.episode_len)  # 6
    reset = np.concatenate([np.asarray(t.reset) for _, t, _ in rollouts])  # [12, N]
    done = np.concatenate([np.asarray(t.done) for _, t, _ in rollouts])
    steps = np.arange(reset.shape[0])
    np.testing.assert_array_equal(reset, np.broadcast_to((steps % T == 0)[:, None], reset.shape))
    np.testing.assert_array_equal(done, np.broadcast_to((steps % T == T - 1)[:, None], done.shape))
    # the previous action is "none" and the previous reward 0 exactly at trial starts
    x = np.concatenate([np.asarray(t.x) for _, t, _ in rollouts])
    none = x[..., 1 + env.num_actions]
    np.testing.assert_array_equal(none, reset.astype(np.float32))
    assert np.all(x[reset][..., -2] == 0)
    # the loss replays each unroll from the LSTM state it started with: same values as acting
    for state, t, _ in rollouts:
        _, _, values = replay(tr.net, state.params, state.carry, t.x, t.reset)
        np.testing.assert_allclose(np.asarray(values), np.asarray(t.value), atol=1e-5)


def test_hidden_state_kept_across_episodes_and_reset_between_trials(bandit, rollouts):
    """A changed r_{t-1} in episode 1 changes the policy in episode 2 of the same trial, and
    nothing in the next trial (the state is zeroed at its start). The bandit's network (one-pull
    episodes in training) is fed inputs whose episode-start flag marks episodes of 3 steps."""
    env, tr, _ = bandit
    params = rollouts[0][0].params
    A, L, E = env.num_actions, 3, 2
    rng = np.random.default_rng(0)
    T = 2 * E * L  # two trials
    acts = rng.integers(0, A, T)
    rews = rng.integers(0, 2, T).astype(np.float32)
    t = np.arange(T)
    trial_start = t % (E * L) == 0

    @jax.jit
    def run(prev_a, prev_r):
        x = jax.vmap(step_input, in_axes=(0, 0, 0, 0, None, None))(
            jnp.zeros((T, 1), jnp.int32), prev_a, prev_r, jnp.asarray(t % L == 0), (1,), A)
        carry = zero_carry(CFG.hidden, (1,))
        return replay(tr.net, params, carry, x[:, None], jnp.asarray(trial_start)[:, None])[1]

    def logits_of(rews):
        prev_a = np.where(trial_start, A, np.roll(acts, 1))
        prev_r = np.where(trial_start, 0.0, np.roll(rews, 1))
        return np.asarray(run(jnp.asarray(prev_a), jnp.asarray(prev_r, jnp.float32)))[:, 0]

    base = logits_of(rews)
    changed = rews.copy()
    changed[0] = 1.0 - changed[0]  # r_0 is the input r_{t-1} of step 1, in episode 1
    new = logits_of(changed)
    np.testing.assert_array_equal(new[:1], base[:1])  # before the change
    ep2 = slice(L, 2 * L)
    assert np.all(np.abs(new[ep2] - base[ep2]).max(axis=-1) > 0)  # carried into episode 2
    np.testing.assert_array_equal(new[E * L:], base[E * L:])  # next trial: untouched


def test_advantages_hand_computed():
    # deltas: 1 + .9*1 - .5 = 1.4; trial end at t=1: 0 - 1 = -1; 2 + .9*3 - .2 = 4.5
    # adv2 = 4.5; adv1 = -1 (cut at the trial end); adv0 = 1.4 + .9*.5*(-1) = .95
    adv, targets = jax.jit(rl2.advantages, static_argnums=(4, 5))(jnp.array([[1.0], [0.0], [2.0]]),
                                  jnp.array([[0.5], [1.0], [0.2]]), jnp.array([3.0]),
                                  jnp.array([[0.0], [1.0], [0.0]]), 0.9, 0.5)
    np.testing.assert_allclose(np.asarray(adv)[:, 0], [0.95, -1.0, 4.5], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(targets)[:, 0], [1.45, 0.0, 4.7], rtol=1e-6)


def test_a2c_loss_hand_computed():
    # probs (0.25, 0.75), action 1, advantage 2, value 1 against target 0
    loss = jax.jit(a2c_loss, static_argnums=(5, 6))
    total, (pg, vf, ent) = loss(jnp.array([[0.0, np.log(3.0)]]), jnp.array([1.0]),
                                jnp.array([1]), jnp.array([2.0]), jnp.array([0.0]), 0.01, 0.5)
    h = -(0.25 * np.log(0.25) + 0.75 * np.log(0.75))
    np.testing.assert_allclose([pg, vf, ent], [-2 * np.log(0.75), 1.0, h], rtol=1e-6)
    np.testing.assert_allclose(total, -2 * np.log(0.75) + 0.5 - 0.01 * h, rtol=1e-6)


@pytest.fixture(scope="module")
def runs(bandit, tmp_path_factory):
    """40 updates uninterrupted (dir a), and stopped after 20 then resumed (dir b); dir c
    stopped by a spent time budget at the first log boundary (2), then resumed."""
    env, _, pool = bandit
    cfg = dataclasses.replace(CFG, num_updates=40, ckpt_every=40)  # shares CFG's compiled chunk
    root = tmp_path_factory.mktemp("rl2")
    whole = rl2.fit(cfg, root / "a", progress=False, env=env, pool=pool)
    rl2.fit(cfg, root / "b", stop_at=20, progress=False, env=env, pool=pool)
    assert (root / "b" / "checkpoints" / "20").exists()
    resumed = rl2.fit(cfg, root / "b", progress=False, env=env, pool=pool)
    stopped = rl2.fit(cfg, root / "c", max_seconds=0.0, progress=False, env=env, pool=pool)
    assert int(stopped.update) == 2 and (root / "c" / "checkpoints" / "2").exists()
    assert len((root / "c" / "metrics.jsonl").read_text().splitlines()) == 1
    rl2.fit(cfg, root / "c", progress=False, env=env, pool=pool)
    return cfg, root, whole, resumed


# The two tests on `runs` compile the whole update chunk (~10 s CPU under load), which would take
# the non-slow rl2 tests past their 30 s budget: they run with `make test-slow`.
@pytest.mark.slow
def test_resume_gives_the_same_bits(bandit, runs):
    env = bandit[0]
    cfg, root, whole, resumed = runs
    assert int(resumed.update) == int(whole.update) == 40
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    rec = lambda d: [json.loads(ln)["loss"]
                     for ln in (d / "metrics.jsonl").read_text().splitlines()]
    assert len(rec(root / "a")) == 20 and rec(root / "a") == rec(root / "b") == rec(root / "c")
    _, _, params_c, _ = rl2.load_run(root / "c")
    for a, b in zip(jax.tree.leaves(params_c), jax.tree.leaves(whole.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    cfg2, env2, params, conf = rl2.load_run(root / "b")
    assert cfg2 == cfg and env2 == env and conf["update"] == 40
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(whole.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # checkpoints carry checksums as AD's do: a flipped byte is an error naming the file
    sums = json.loads((root / "b" / "checkpoints.sha256.json").read_text())
    assert sorted(sums) == ["20", "40"]
    name = max(sums["40"], key=lambda n: (root / "b" / "checkpoints" / "40" / n).stat().st_size)
    f = root / "b" / "checkpoints" / "40" / name
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x10
    f.write_bytes(bytes(data))
    with pytest.raises(RunConfigError, match=rf"40.{name}: sha256 mismatch"):
        rl2.load_run(root / "b")
    # training moves it aside and redoes updates 21-40 from checkpoint 20: the same bits
    with pytest.warns(UserWarning, match=rf"40.{name}: sha256 mismatch.*previous checkpoint"):
        redone = rl2.fit(cfg, root / "b", progress=False, env=env, pool=bandit[2])
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(redone), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert len(list((root / "b" / "corrupt").iterdir())) == 1


@pytest.mark.slow
def test_training_on_a_trivial_bandit_improves_return(bandit, runs):
    """Arm 1 pays with 0.8, arm 0 with 0.2: a uniform policy earns 0.5 per pull."""
    env, _, pool = bandit
    cfg, root, whole, _ = runs
    recs = [json.loads(ln) for ln in (root / "a" / "metrics.jsonl").read_text().splitlines()]
    first = np.mean([r["return"] for r in recs[:3]])
    last = np.mean([r["return"] for r in recs[-3:]])
    assert first < 0.6 and last > first + 0.15, (first, last)
    # the frozen agent's evaluation trials agree
    fn = jax.jit(jax.vmap(trial_fn(cfg.hidden, env, 6), in_axes=(None, 0, None)))
    ret = np.asarray(fn(whole.params, jax.random.split(jax.random.key(0), 64),
                        env.with_task(env.default_params, pool[0])))
    assert ret.shape == (64, 6) and ret.mean() > 0.65, ret.mean()


def test_norm_adv_is_recorded_only_when_on():
    """config.json of runs before the option (norm_adv off) stays the same, so they resume."""
    assert "norm_adv" not in CFG.to_dict()
    on = dataclasses.replace(CFG, norm_adv=True)
    assert on.to_dict()["norm_adv"] is True
    assert rl2.Config.from_dict(on.to_dict()) == on
    assert rl2.Config.from_dict(CFG.to_dict()) == CFG


@pytest.mark.slow
def test_norm_adv_scales_the_policy_gradient_only(bandit):
    """One update from the same state and key: with normalised advantages the policy loss
    changes, the value loss (its targets are the unnormalised returns) does not."""
    env, tr, pool = bandit
    tr_on = rl2.trainer(dataclasses.replace(CFG, norm_adv=True), env)
    state = tr.init(pool)
    _, off = jax.jit(tr.update)(state, pool)
    _, on = jax.jit(tr_on.update)(state, pool)
    assert float(off["vf_loss"]) == pytest.approx(float(on["vf_loss"]), rel=1e-6)
    assert float(off["pg_loss"]) != pytest.approx(float(on["pg_loss"]), abs=1e-4)


def test_ppo_config_is_checked_and_recorded_only_when_on():
    ppo = dataclasses.replace(CFG, algo="ppo", ppo_minibatches=2)
    assert ppo.to_dict()["algo"] == "ppo" and ppo.to_dict()["ppo_minibatches"] == 2
    assert "ppo_epochs" not in ppo.to_dict()  # at its default
    assert rl2.Config.from_dict(ppo.to_dict()) == ppo
    assert not {"algo", "ppo_epochs", "ppo_minibatches", "clip_eps"} & set(CFG.to_dict())
    for bad, match in ((dict(ppo_minibatches=3), "num_trials 16 is not divisible"),
                       (dict(network="transformer", tf_layers=1, tf_width=16, tf_heads=2),
                        "needs network 'lstm'"),
                       (dict(clip_eps=1.5), "clip_eps must be in"),
                       (dict(ppo_epochs=0), "must be >= 1")):
        with pytest.raises(ValueError, match=match):
            dataclasses.replace(ppo, **bad)
    with pytest.raises(ValueError, match="algo must be one of"):
        dataclasses.replace(CFG, algo="trpo")


def test_ppo_with_one_epoch_of_one_minibatch_is_the_a2c_update(bandit):
    """At the acting policy the clipped surrogate's gradient is the policy gradient: one PPO
    epoch over all trials at once takes A2C's step (to float rounding: the trials are permuted);
    more epochs and minibatches take more steps from the same data."""
    env, tr, pool = bandit
    one = rl2.trainer(dataclasses.replace(CFG, algo="ppo", ppo_epochs=1, ppo_minibatches=1), env)
    many = rl2.trainer(dataclasses.replace(CFG, algo="ppo", ppo_epochs=2, ppo_minibatches=4), env)
    state = tr.init(pool)
    a2c, m_a2c = jax.jit(tr.update)(state, pool)
    ppo, m_ppo = jax.jit(one.update)(state, pool)
    for a, b in zip(jax.tree.leaves(a2c.params), jax.tree.leaves(ppo.params), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    assert float(m_a2c["vf_loss"]) == pytest.approx(float(m_ppo["vf_loss"]), rel=1e-5)
    more, m_more = jax.jit(many.update)(state, pool)
    assert int(more.opt_state[1][0].count) == 8 and int(ppo.opt_state[1][0].count) == 1
    assert np.isfinite(float(m_more["loss"]))


def test_rl2_agent_acts_as_the_network_replays_its_trial():
    """RL2Agent through the evaluation loop: each step's logits are the network's when it replays
    the trial's inputs from a zero state (the previous action carried across episodes, "none"
    only at the trial's start, the flag on each episode's first step), as training feeds it."""
    env, params_env = envs.make("darkroom")
    L, E, hidden = env.episode_len, 3, (8,)
    dims = (env.size, env.size)
    net = rl2.RL2Net(env.num_actions, hidden)
    params = net.init(jax.random.key(1), zero_carry(hidden), jnp.zeros(input_dim(dims, 5)))
    agent = RL2Agent.create(hidden, env, params, E)
    p = env.with_task(params_env, jnp.array([2, 6]))
    trace = in_context_trace(jax.random.key(3), agent, env, p, E, refresh_every=E * L)
    starts = np.arange(E * L) % L == 0
    x = jax.vmap(step_input, in_axes=(0, 0, 0, 0, None, None))(
        trace.obs, trace.prev_act, trace.prev_rew, jnp.asarray(starts), dims, env.num_actions)
    _, logits, _ = replay(net, params, zero_carry(hidden), x, jnp.zeros(E * L, bool))
    np.testing.assert_allclose(np.asarray(trace.logits), np.asarray(logits), atol=1e-5)
    prev = np.asarray(trace.prev_act)
    assert prev[0] == env.num_actions and np.all(prev[L::L] < env.num_actions)
    # trial_fn's returns are this rollout's
    ret = trial_fn(hidden, env, E)(params, jax.random.key(3), p)
    np.testing.assert_array_equal(np.asarray(ret),
                                  episode_returns_by_done(trace.rewards, trace.done, E))
    with pytest.raises(ValueError, match="takes no context"):
        in_context_trace(jax.random.key(3), agent, env, p, E, refresh_every=L)
