"""Tests of adjax.evaluate: the loop with fake agents, windows, prompts, spaces, the cache."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from gymnax.environments import environment, spaces

from adjax import evaluate
from adjax.atomic import read_json
from adjax.evaluate import Agent, AgentSpec, Prompt, in_context, rollout
from adjax.evaluate.baselines import UniformAgent, random_policy

MOVES = jnp.array([[0, 0], [0, -1], [1, 0], [0, 1], [-1, 0]], jnp.int32)


@struct.dataclass
class TinyParams(environment.EnvParams):
    task: jax.Array = struct.field(default_factory=lambda: jnp.array([6, 2], jnp.int32))
    max_steps_in_episode: int = 10


@struct.dataclass
class TinyState(environment.EnvState):
    pos: jax.Array


class TinyRoom(environment.Environment):
    """Foreign gymnax env, Dark Room spaces: 9x9, start (4, 4), r 1 at the goal, 10 steps."""

    def __init__(self, obs_dim: int = 2, num_actions: int = 5):
        self.obs_dim, self.n = obs_dim, num_actions

    @property
    def default_params(self):
        return TinyParams()

    def reset_env(self, key, params):
        state = TinyState(time=0, pos=jnp.full((self.obs_dim,), 4, jnp.int32))
        return state.pos, state

    def step_env(self, key, state, action, params):
        pos = jnp.clip(state.pos + MOVES[action], 0, 8)
        reward = jnp.all(pos == params.task).astype(jnp.float32)
        return pos, TinyState(time=state.time + 1, pos=pos), reward, jnp.bool_(False), {}

    def observation_space(self, params):
        return spaces.Box(0, 8, (self.obs_dim,), jnp.int32)

    def action_space(self, params):
        return spaces.Discrete(self.n)


SPEC = AgentSpec((2,), "int32", 5, 12)


class Oracle(Agent):
    """Always steps toward its goal (x first), then no-ops."""

    goal: jax.Array

    def encode(self, obs_KxO, prev_act_K, prev_rew_K, valid_K):
        return jnp.zeros(())

    def decode(self, state, obs_O, prev_act, prev_rew):
        dx, dy = self.goal[0] - obs_O[0], self.goal[1] - obs_O[1]
        a = jnp.select([dx > 0, dx < 0, dy > 0, dy < 0], [2, 4, 3, 1], 0)
        return 20.0 * jax.nn.one_hot(a, 5), state


class NoOp(UniformAgent):
    def decode(self, state, obs_O, prev_act, prev_rew):
        return 20.0 * jax.nn.one_hot(0, 5), state


class Probe(Agent):
    """Keeps its context explicitly; logits summarise it (probe_summary)."""

    def encode(self, obs_KxO, prev_act_K, prev_rew_K, valid_K):
        c, k = self.spec.context_len, valid_K.shape[0]
        pad = lambda x: jnp.concatenate([jnp.zeros((c - k, *x.shape[1:]), x.dtype), x])
        return (pad(obs_KxO), pad(prev_act_K), pad(prev_rew_K), pad(valid_K))

    def decode(self, state, obs_O, prev_act, prev_rew):
        push = lambda buf, x: jnp.concatenate([buf[1:], x[None]])
        obs, act, rew, valid = map(push, state, (obs_O, prev_act, prev_rew, jnp.bool_(True)))
        return probe_summary(obs, act, rew, valid), (obs, act, rew, valid)


def probe_summary(obs_KxO, act_K, rew_K, valid_K):
    """float32[5] summary of a (left-padded) context; jnp or numpy."""
    xp = jnp if isinstance(obs_KxO, jax.Array) else np
    v = valid_K.astype(xp.float32)
    pos = (xp.cumsum(v) - 1) * v  # position among valid steps
    return xp.stack([v.sum(), (act_K * v).sum(), (rew_K * v).sum(),
                     (obs_KxO[:, 0] * (pos + 1)).sum(), (obs_KxO[:, 1] * (pos + 1) ** 2).sum()]
                    ).astype(xp.float32) / 100.0


@pytest.fixture(scope="module")
def tiny():
    env = TinyRoom()
    return env, env.default_params


def test_oracle_reaches_optimal(tiny):
    env, params = tiny
    ret = in_context(jax.random.key(0), Oracle(SPEC, params.task), env, params, 3)
    assert ret.dtype == jnp.float32 and ret.shape == (3,)
    np.testing.assert_array_equal(ret, [7.0, 7.0, 7.0])  # 10 steps, goal 4 moves away


def test_noop_return(tiny):
    env, params = tiny
    ret = in_context(jax.random.key(0), NoOp(SPEC), env, params, 2)
    np.testing.assert_array_equal(ret, [0.0, 0.0])
    at_start = params.replace(task=jnp.array([4, 4], jnp.int32))
    ret = in_context(jax.random.key(0), NoOp(SPEC), env, at_start, 2)
    np.testing.assert_array_equal(ret, [10.0, 10.0])


def test_same_key_same_returns(tiny):
    env, params = tiny
    agent = UniformAgent(SPEC)
    a = in_context(jax.random.key(3), agent, env, params, 20)
    b = in_context(jax.random.key(3), agent, env, params, 20)
    c = in_context(jax.random.key(4), agent, env, params, 20)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_vmap_over_tasks_equals_loop(tiny):
    env, params = tiny
    goals = jnp.array([[0, 0], [8, 8], [4, 3], [5, 5]], jnp.int32)
    keys = jax.random.split(jax.random.key(1), 4)
    run = lambda k, g: in_context(k, Oracle(SPEC, g), env, params.replace(task=g), 2,
                                  temperature=3.0)
    batched = jax.vmap(run)(keys, goals)
    looped = jnp.stack([run(k, g) for k, g in zip(keys, goals, strict=True)])
    np.testing.assert_array_equal(batched, looped)
    rand = jax.vmap(lambda k, g: random_policy(k, env, params.replace(task=g), 2))(keys, goals)
    assert rand.shape == (4, 2)


@pytest.mark.parametrize("b, prompt_len", [(1, 0), (4, 0), (12, 0), (3, 5), (4, 30)])
def test_context_window(tiny, b, prompt_len):
    """The agent sees exactly the last k steps, c - b < k <= c, prompt first, in order."""
    env, params = tiny
    c, T = SPEC.context_len, 48
    prompt = None
    inputs = {"obs": np.zeros((0, 2), np.int32), "act": np.zeros(0, np.int32), "rew": np.zeros(0)}
    if prompt_len:
        rng = np.random.default_rng(0)
        prompt = Prompt(jnp.asarray(rng.integers(0, 9, (prompt_len, 2)), jnp.int32),
                        jnp.asarray(rng.integers(0, 5, prompt_len), jnp.int32),
                        jnp.asarray(rng.integers(0, 2, prompt_len), jnp.float32))
        inputs = {"obs": np.asarray(prompt.obs),
                  "act": np.concatenate([[5], np.asarray(prompt.actions[:-1])]),
                  "rew": np.concatenate([[0.0], np.asarray(prompt.rewards[:-1])])}
    tr = rollout(jax.random.key(0), Probe(SPEC), env, params, T, b, prompt=prompt)
    obs = np.concatenate([inputs["obs"], np.asarray(tr.obs)])
    act = np.concatenate([inputs["act"], np.asarray(tr.prev_act)])
    rew = np.concatenate([inputs["rew"], np.asarray(tr.prev_rew)])
    if prompt_len:  # the first acting step follows the prompt's last transition
        assert tr.prev_act[0] == prompt.actions[-1] and tr.prev_rew[0] == prompt.rewards[-1]
    else:
        assert tr.prev_act[0] == SPEC.num_actions and tr.prev_rew[0] == 0
    for t in range(T):
        k = min(prompt_len + t + 1, c - b + t % b + 1)
        end = prompt_len + t + 1
        sl = slice(end - k, end)
        want = probe_summary(obs[sl], act[sl], rew[sl], np.ones(k, bool))
        np.testing.assert_allclose(tr.logits[t], want, rtol=1e-6, err_msg=f"t={t}")


def test_episode_marker_in_the_loop(tiny):
    """An agent with spec.episode_marker reads previous action "none" and reward 0 at the first
    step of every episode (10 steps here), in its context as at the current step, prompt
    included (whole episodes, starts marked); other steps carry the last action and reward."""
    env, params = tiny
    spec = dataclasses.replace(SPEC, episode_marker=True)
    L, P, T, b, c = 10, 20, 40, 4, SPEC.context_len
    rng = np.random.default_rng(1)
    prompt = Prompt(jnp.asarray(rng.integers(0, 9, (P, 2)), jnp.int32),
                    jnp.asarray(rng.integers(0, 5, P), jnp.int32),
                    jnp.asarray(rng.integers(0, 2, P), jnp.float32))
    tr = rollout(jax.random.key(0), Probe(spec), env, params, T, b, prompt=prompt, episode_len=L)
    first = np.arange(T) % L == 0
    assert (np.asarray(tr.prev_act)[first] == 5).all()
    assert (np.asarray(tr.prev_rew)[first] == 0).all()
    np.testing.assert_array_equal(np.asarray(tr.prev_act)[1:][~first[1:]],
                                  np.asarray(tr.actions)[:-1][~first[1:]])
    assert np.asarray(tr.done)[first[1:].nonzero()[0]].all()  # a done before every start
    p_first = np.arange(P) % L == 0
    p_act = np.where(p_first, 5, np.concatenate([[5], np.asarray(prompt.actions[:-1])]))
    p_rew = np.where(p_first, 0.0, np.concatenate([[0.0], np.asarray(prompt.rewards[:-1])]))
    obs = np.concatenate([np.asarray(prompt.obs), np.asarray(tr.obs)])
    act = np.concatenate([p_act, np.asarray(tr.prev_act)])
    rew = np.concatenate([p_rew, np.asarray(tr.prev_rew)])
    for t in range(T):
        k, end = min(P + t + 1, c - b + t % b + 1), P + t + 1
        want = probe_summary(obs[end - k:end], act[end - k:end], rew[end - k:end], np.ones(k, bool))
        np.testing.assert_allclose(tr.logits[t], want, rtol=1e-6, err_msg=f"t={t}")
    plain = rollout(jax.random.key(0), Probe(SPEC), env, params, T, b)
    assert (np.asarray(plain.prev_act)[first][1:] != 5).any()  # without it: the last action
    with pytest.raises(ValueError, match="whole episodes"):
        in_context(jax.random.key(0), Probe(spec), env, params, 2,
                   prompt=jax.tree.map(lambda x: x[:15], prompt))


def test_foreign_env_spaces_mismatch():
    env3 = TinyRoom(obs_dim=3)
    with pytest.raises(ValueError, match="observation space"):
        in_context(jax.random.key(0), UniformAgent(SPEC), env3, env3.default_params, 1)
    env4 = TinyRoom(num_actions=4)
    with pytest.raises(ValueError, match="4 actions"):
        in_context(jax.random.key(0), UniformAgent(SPEC), env4, env4.default_params, 1)


def test_refresh_must_divide_and_fit(tiny):
    env, params = tiny
    with pytest.raises(ValueError, match="divide"):
        in_context(jax.random.key(0), UniformAgent(SPEC), env, params, 1, refresh_every=3)
    with pytest.raises(ValueError, match="context_len"):
        in_context(jax.random.key(0), UniformAgent(SPEC), env, params, 2, refresh_every=20)


def test_public_names():
    names = ("load_agent", "in_context", "random_policy", "source_from_scratch", "evaluate_run")
    for name in names:
        assert hasattr(evaluate, name), name


@pytest.fixture(scope="module")
def tiny_agents():
    """Transformers of both layouts ("one", "three") and an LSTM ("lstm"), untrained."""
    from adjax.evaluate import make_agent
    from adjax.model import ModelConfig, init_params

    cfgs = {layout: ModelConfig(obs_dims=(9, 9), num_actions=5, context_len=12, layout=layout,
                                d_model=32, num_layers=2, num_heads=2, ff_dim=64)
            for layout in ("one", "three")}
    cfgs["lstm"] = ModelConfig(obs_dims=(9, 9), num_actions=5, context_len=12, d_model=16,
                               sequence_model="lstm", lstm_hidden=16, lstm_layers=2,
                               lstm_head=(16,))
    init = jax.jit(init_params, static_argnums=0)
    return {name: make_agent(cfg, init(cfg, jax.random.key(0)))
            for name, cfg in cfgs.items()}


@pytest.mark.parametrize("layout, b, prompt_len",
                         [("one", 5, 0), ("one", 12, 0), ("one", 4, 9), ("three", 1, 0),
                          ("three", 5, 7), ("lstm", 5, 0)])
def test_cached_decoding_equals_full_pass(tiny, tiny_agents, layout, b, prompt_len):
    """Each decoded step's logits = a fresh uncached pass over its window, after many slides
    (the LSTM: its state re-run over the window at each refresh, then one step per decode = the
    training pass from a zero state over the same window)."""
    env, params = tiny
    agent, c, T = tiny_agents[layout], 12, 60
    prompt, pre = None, [np.zeros((0, 2), np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32)]
    if prompt_len:
        rng = np.random.default_rng(1)
        prompt = Prompt(jnp.asarray(rng.integers(0, 9, (prompt_len, 2)), jnp.int32),
                        jnp.asarray(rng.integers(0, 5, prompt_len), jnp.int32),
                        jnp.asarray(rng.integers(0, 2, prompt_len), jnp.float32))
        pre = [np.asarray(prompt.obs), np.r_[5, np.asarray(prompt.actions[:-1])],
               np.r_[0.0, np.asarray(prompt.rewards[:-1])].astype(np.float32)]
    tr = rollout(jax.random.key(2), agent, env, params, T, b, prompt=prompt)
    obs, act, rew = (np.concatenate([p, np.asarray(x)])
                     for p, x in zip(pre, (tr.obs, tr.prev_act, tr.prev_rew), strict=True))
    # Window of step t: its last k step inputs. One batched full pass over all T windows, each
    # left-aligned in c slots (the tail repeats the last step: causal, so it cannot matter).
    k = np.minimum(prompt_len + np.arange(T) + 1, c - b + np.arange(T) % b + 1)
    assert k.min() >= min(c - b + 1, prompt_len + 1) and k.max() <= c
    end = prompt_len + np.arange(T) + 1
    idx = np.minimum(end[:, None] - k[:, None] + np.arange(c)[None], end[:, None] - 1)
    full = jax.vmap(agent.full_logits)(jnp.asarray(obs[idx]), jnp.asarray(act[idx]),
                                       jnp.asarray(rew[idx]))
    ref = full[np.arange(T), k - 1]
    np.testing.assert_allclose(tr.logits, ref, atol=2e-5, rtol=1e-5)


def test_transformer_in_context_vmaps(tiny, tiny_agents):
    env, params = tiny
    goals = jnp.array([[0, 0], [8, 8], [4, 3]], jnp.int32)
    keys = jax.random.split(jax.random.key(5), 3)
    run = lambda k, g: in_context(k, tiny_agents["three"], env, params.replace(task=g), 3,
                                  refresh_every=5)
    batched = jax.vmap(run)(keys, goals)
    assert batched.shape == (3, 3) and batched.dtype == jnp.float32
    np.testing.assert_array_equal(batched[1], run(keys[1], goals[1]))


def test_chunk_size_does_not_change_results(tiny, tiny_agents):
    """Pairs run in vmapped chunks of `batch_size` (a speed setting only): same bits at any size,
    padding of the last chunk included (5 pairs: chunks of 5, 3 + 2 padded, 1)."""
    from adjax.evaluate.results import over_tasks_and_seeds

    env, params = tiny
    fn = lambda a, k, p: in_context(k, tiny_agents["one"], env, p, 3, refresh_every=5)
    goals = jnp.array([[0, 0], [8, 8], [4, 3], [6, 2], [1, 7]], jnp.int32)

    class Env:  # the `with_task` our envs have
        with_task = staticmethod(lambda p, g: p.replace(task=g))

    runs = [over_tasks_and_seeds(fn, jax.random.key(3), Env, params, goals, 1, bs)
            for bs in (5, 3, 1)]
    assert runs[0].shape == (5, 1, 3)
    for r in runs[1:]:
        np.testing.assert_array_equal(r, runs[0])


@pytest.fixture(scope="module")
def darkroom():
    from adjax import envs

    env, params = envs.make("darkroom")
    return env, params, envs.task_split("darkroom")[1]


def test_darkroom_oracle_and_noop(darkroom):
    from adjax import envs

    env, params, test_tasks = darkroom
    spec = AgentSpec((2,), "int32", 5, 20)
    run = lambda k, g: in_context(k, Oracle(spec, g), env, env.with_task(params, g), 2)
    ret = jax.vmap(run)(jax.random.split(jax.random.key(0), len(test_tasks)), test_tasks)
    opt = jax.vmap(lambda g: envs.optimal_return("darkroom", g))(test_tasks)
    np.testing.assert_array_equal(ret, jnp.stack([opt, opt], axis=1))
    noop = lambda g: in_context(jax.random.key(0), NoOp(spec), env,
                                env.with_task(params, jnp.array(g, jnp.int32)), 2)
    np.testing.assert_array_equal(noop([4, 4]), [20, 20])  # the goal is the start cell
    np.testing.assert_array_equal(noop([0, 8]), [0, 0])


def test_evaluate_run_writes_json_and_figure(darkroom, tmp_path, monkeypatch):
    import json

    from adjax.evaluate import results

    agent = UniformAgent(AgentSpec((2,), "int32", 5, 20))
    monkeypatch.setattr(results, "load_agent", lambda run_dir: agent)
    out = tmp_path / "eval" / "dr.json"
    spec = evaluate.EvalSpec(env="darkroom", splits=("train", "test"), num_episodes=3,
                             num_seeds=2, num_tasks=3, baselines=("random", "optimal"))
    res = evaluate.evaluate_run("RUN", out, spec)
    assert read_json(out) == json.loads(json.dumps(res))  # its checksum holds
    assert out.with_suffix(".png").stat().st_size > 0
    assert not list(out.parent.glob(".*tmp"))
    for split in ("train", "test"):
        sec = res["splits"][split]
        assert np.asarray(sec["curves"]["agent"]["returns"]).shape == (3, 2, 3)
        s = sec["curves"]["random"]["summary"]
        assert len(s["mean"]) == len(s["lo"]) == 3 and sec["optimal"]["mean"] > 0
    assert res["splits"]["train"]["tasks"] != res["splits"]["test"]["tasks"]


def test_interrupted_evaluation_resumes_from_its_saved_chunks(darkroom, tmp_path, monkeypatch):
    """An evaluation stopped mid-way keeps every finished chunk beside its output; the rerun runs
    only the rest and writes the same bits; a finished one leaves nothing behind; chunks saved
    with other settings are not used."""
    import dataclasses

    from adjax.evaluate import partial, results

    monkeypatch.setattr(results, "load_agent",
                        lambda run_dir: UniformAgent(AgentSpec((2,), "int32", 5, 20)))
    spec = evaluate.EvalSpec(env="darkroom", splits=("test",), num_episodes=3, num_seeds=2,
                             num_tasks=4, baselines=("random",))
    run = lambda out, spec: evaluate.evaluate_run("RUN", out, spec, batch_size=2, figure=False,
                                                  progress=False)
    whole = run(tmp_path / "whole.json", spec)
    total = 2 * len(results.chunks(8, 2))  # 2 curves x 8 pairs (8 chunks of 2 on <= 2 devices)
    calls, stop_after, batched = [], [None], results._batched

    def counted(fn, env, task_batch=None):
        compiled = batched(fn, env, task_batch)

        def call(*args):
            if stop_after[0] is not None and len(calls) == stop_after[0]:
                raise KeyboardInterrupt  # as a kill would, between two chunks
            calls.append(1)
            return compiled(*args)
        return call

    monkeypatch.setattr(results, "_batched", counted)
    out = tmp_path / "eval.json"
    stop_after[0] = total - 3
    with pytest.raises(KeyboardInterrupt):
        run(out, spec)
    assert not out.exists() and len(list(partial.partial_dir(out).rglob("*.npy"))) == total - 3
    stop_after[0], calls[:] = None, []
    assert run(out, spec) == whole and len(calls) == 3  # the 3 chunks not yet run
    assert read_json(out) == read_json(tmp_path / "whole.json")
    assert not partial.partial_dir(out).exists()
    stop_after[0], calls[:] = total - 3, []
    with pytest.raises(KeyboardInterrupt):
        run(out, spec)
    stop_after[0], calls[:] = None, []
    run(out, dataclasses.replace(spec, num_episodes=4))  # other settings: everything runs again
    assert len(calls) == total and not partial.partial_dir(out).exists()


def test_summary_interval():
    r = np.zeros((2, 3, 1))
    r[:, :, 0] = [[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]]  # per-seed task means 2, 3, 4
    s = evaluate.summarize(r)
    assert s["mean"] == [3.0] and s["num_seeds"] == 3
    half = 4.302652729911275 * 1.0 / np.sqrt(3)  # t(0.975, 2) * sd / sqrt(S)
    np.testing.assert_allclose([s["lo"][0], s["hi"][0]], [3 - half, 3 + half])


def test_lstm_ad_trains_loads_and_acts_in_context(tiny, tmp_path):
    """End to end through the config alone: an LSTM-AD trained by `adjax.train.fit` on histories
    whose actions repeat with period 2 (a_t = a_{t-2}, a random pair per history: a_{t-1} alone
    does not tell a_t), loaded by `load_agent`, continues a prompt's pair in context, greedily,
    across context refreshes: the prompts (3, 0, 3, 0) and (1, 0, 1, 0) end alike and are
    continued differently, which only the LSTM's memory of earlier steps can do."""
    from adjax.evaluate import LSTMAgent, in_context_trace, load_agent
    from adjax.model import ModelConfig
    from adjax.train import Arrays, TrainConfig, fit

    rng = np.random.default_rng(0)
    H, T = 16, 60
    p = rng.integers(0, 5, H)
    q = (p + rng.integers(1, 5, H)) % 5
    acts = np.where(np.arange(T)[None] % 2 == 0, p[:, None], q[:, None]).astype(np.uint8)
    data = Arrays(rng.integers(0, 9, (H, T, 2)).astype(np.int8), acts,
                  np.zeros((H, T), np.float16), episode_len=5, env_name="toy", obs_dims=(9, 9),
                  num_actions=5)
    cfg = ModelConfig(obs_dims=(9, 9), num_actions=5, context_len=12, d_model=16,
                      sequence_model="lstm", lstm_hidden=16, lstm_head=(16,), dropout=0.0,
                      token_mask_prob=0.0)
    fit(TrainConfig(batch_size=32, num_steps=150, warmup_steps=10, peak_lr=1e-2, log_every=150,
                    ckpt_every=150, steps_per_call=25), cfg, data, tmp_path, progress=False)
    assert json.loads((tmp_path / "metrics.jsonl").read_text())["accuracy"] > 0.8
    agent = load_agent(tmp_path)
    assert isinstance(agent, LSTMAgent) and agent.cfg == cfg
    env, params = tiny
    for pair in ((3, 0), (1, 0)):
        prompt = Prompt(jnp.full((4, 2), 4, jnp.int32), jnp.array(pair * 2, jnp.int32),
                        jnp.zeros(4, jnp.float32))
        tr = in_context_trace(jax.random.key(0), agent, env, params, 2, refresh_every=4,
                              greedy=True, prompt=prompt)
        np.testing.assert_array_equal(tr.actions, np.array(pair * 10))


def test_cli_rerun_of_a_complete_evaluation_does_nothing_and_another_is_refused(tmp_path,
                                                                                monkeypatch,
                                                                                capsys):
    """`python -m adjax.evaluate` on an --out that holds this evaluation (same settings, same
    checkpoint) says so and computes nothing; other settings or a newer checkpoint are refused,
    naming what differs, unless --overwrite; a damaged file is evaluated again."""
    from adjax.atomic import write_json
    from adjax.evaluate import __main__ as cli
    from adjax.evaluate.results import EvalSpec, evaluation_settings

    run = tmp_path / "run"
    (run / "checkpoints" / "4500").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"data": {"env": "darkroom"}}))
    out = tmp_path / "ev.json"
    args = cli.Args(run_dir=run, out=out, episodes=3, seeds=2)
    stored = evaluation_settings(EvalSpec(num_episodes=3, num_seeds=2,
                                          baselines=("random", "optimal")), run)
    del stored["env_kwargs"]  # recorded only where not the defaults
    write_json(out, {**stored, "splits": {"test": {}}}, checksum=True)
    calls = []
    monkeypatch.setattr(cli, "check_args", lambda a: None)
    monkeypatch.setattr(cli, "evaluate_run", lambda *a, **k: calls.append(k) or {"splits": {}})
    cli.main(args)
    assert not calls and "already complete" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"num_episodes.*--overwrite"):
        cli.main(cli.Args(run_dir=run, out=out, episodes=4, seeds=2))
    (run / "checkpoints" / "5000").mkdir()  # trained further since
    with pytest.raises(ValueError, match="run_step"):
        cli.main(args)
    cli.main(cli.Args(run_dir=run, out=out, episodes=3, seeds=2, overwrite=True))
    assert len(calls) == 1
    out.write_text(out.read_text().replace('"seed": 0', '"seed": 1'))  # checksum no longer holds
    cli.main(args)
    assert len(calls) == 2 and "evaluating again" in capsys.readouterr().out


def test_episode_marker_trains_loads_and_acts_on_episode_starts(tiny, tmp_path):
    """End to end through the config alone: histories whose action is 0 at every episode's first
    step and 2 elsewhere, observations random: only the episode-start marker tells the two
    apart (training windows start anywhere). A transformer with `episode_marker` trained by `fit`,
    loaded by `load_agent` (marker in its config and spec), then acting greedily in a 10-step
    episode env, plays 0 exactly at each episode's first step."""
    from adjax.evaluate import in_context_trace, load_agent
    from adjax.model import ModelConfig
    from adjax.train import Arrays, TrainConfig, fit

    rng = np.random.default_rng(0)
    H, T, L = 16, 60, 10
    acts = np.where(np.arange(T)[None] % L == 0, 0, 2).repeat(H, 0).astype(np.uint8)
    data = Arrays(rng.integers(0, 9, (H, T, 2)).astype(np.int8), acts,
                  np.zeros((H, T), np.float16), episode_len=L, env_name="toy", obs_dims=(9, 9),
                  num_actions=5)
    cfg = ModelConfig(obs_dims=(9, 9), num_actions=5, context_len=12, d_model=16, num_layers=1,
                      num_heads=2, ff_dim=32, dropout=0.0, attn_dropout=0.0, token_mask_prob=0.0,
                      episode_marker=True)
    fit(TrainConfig(batch_size=32, num_steps=150, warmup_steps=10, peak_lr=1e-2, log_every=50,
                    ckpt_every=150, steps_per_call=25), cfg, data, tmp_path, progress=False)
    assert json.loads((tmp_path / "config.json").read_text())["model"]["episode_marker"] is True
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg  # off: not written (older configs equal)
    assert "episode_marker" not in dataclasses.replace(cfg, episode_marker=False).to_dict()
    last = (tmp_path / "metrics.jsonl").read_text().splitlines()[-1]
    assert json.loads(last)["accuracy"] > 0.99
    agent = load_agent(tmp_path)
    assert agent.spec.episode_marker
    env, params = tiny
    tr = in_context_trace(jax.random.key(0), agent, env, params, 3, refresh_every=5, greedy=True)
    np.testing.assert_array_equal(tr.actions, np.where(np.arange(3 * L) % L == 0, 0, 2))
