"""Watermaze datasets store (x, y, heading), not frames: rendered back bit for bit, through
collect -> disk -> load -> training windows; the format refuses what does not fit."""

import dataclasses
import json
import shutil
import types
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adjax import envs, sources
from adjax.data import CollectSpec, DatasetError, collect, load
from adjax.data.__main__ import info
from adjax.data.dataset import RenderedObs, StateRenderer
from adjax.sources.common import History
from adjax.train.windows import as_arrays, device_data, sample_window

H, W, L = 12, 16, 50
EPISODES, STREAMS = 3, 2
T = EPISODES * L
TASKS = np.array([[0.3, -0.2], [-0.5, 0.1], [0.0, 0.6]], np.float32)


@dataclasses.dataclass(frozen=True)
class RandomConfig:
    """A uniformly random policy that records what a Watermaze dataset stores (test-only)."""

    NAME: ClassVar[str] = "test-random"
    num_streams: int = STREAMS
    num_episodes: int = EPISODES


def _rollout(cfg, env, key, env_params):
    """-> (History with obs = stored state of the state each action was taken in [S, T, 3],
    the frames the policy saw uint8[S, T, H, W, 3])."""
    S, n = cfg.num_streams, cfg.num_episodes * env.episode_len
    k_reset, k_act, k_env = jax.random.split(key, 3)
    obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(k_reset, S), env_params)

    def step(carry, x):
        obs, state = carry
        ka, ke = x
        a = jax.random.randint(ka, (S,), 0, env.num_actions)
        obs2, state2, r, *_ = jax.vmap(env.step, (0, 0, 0, None))(
            jax.random.split(ke, S), state, a, env_params)
        return (obs2, state2), (jax.vmap(env.stored_obs)(state), obs, a, r)

    _, (stored, frames, a, r) = jax.lax.scan(
        step, (obs, state), (jax.random.split(k_act, n), jax.random.split(k_env, n)))
    sw = lambda x: jnp.swapaxes(x, 0, 1)  # noqa: E731
    return History(obs=sw(stored), actions=sw(a), rewards=sw(r)), sw(frames)


def _make_train(cfg, env):
    def train(key, env_params):
        return None, _rollout(cfg, env, key, env_params)[0]

    return train


RANDOM = types.SimpleNamespace(Config=RandomConfig, make_train=_make_train)


@pytest.fixture(scope="module")
def env():
    return envs.make("watermaze", height=H, width=W)


@pytest.fixture(scope="module")
def dataset(env, tmp_path_factory):
    """A 3-task x 2-stream state dataset, and the frames its policy saw [tasks, S, T, H, W, 3]."""
    e, params = env
    cfg = RandomConfig()
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sources.SOURCES, RandomConfig.NAME, RANDOM)
        path = collect(CollectSpec(cfg, e, tasks=TASKS), tmp_path_factory.mktemp("wm") / "ds",
                       chunk_size=2, progress=False, plot=False)
    ps = jax.vmap(lambda t: e.with_task(params, t))(jnp.asarray(TASKS))
    keys = jax.vmap(jax.random.fold_in, (None, 0))(jax.random.key(0),
                                                   jnp.arange(len(TASKS), dtype=jnp.uint32))
    frames = jax.jit(jax.vmap(lambda k, p: _rollout(cfg, e, k, p)[1]))(keys, ps)
    return path, np.asarray(frames)


def test_format_stores_state_not_frames(dataset):
    path, _ = dataset
    m = json.loads((path / "manifest.json").read_text())
    assert m["format_version"] == 2
    assert m["obs_storage"] == {"array": "obs_state", "fields": ["x", "y", "heading"],
                                "frame_shape": [H, W, 3], "frame_dtype": "|u1"}
    assert not (path / "obs.npy").exists()
    state = np.load(path / "obs_state.npy")
    assert state.shape == (len(TASKS) * STREAMS, T, 3) and state.dtype == np.float32
    assert m["env_config"]["obs_dims"] is None  # no per-pixel cardinalities in the manifest
    assert load(path).env_kwargs == {"height": H, "width": W}  # what evaluation rebuilds
    # about 18 bytes a step (12 state, 1 action, 2 reward, +-): 1000 histories x 100 episodes of
    # 50 steps fit in 100 MB (measured: experiments/watermaze/NOTES.md)
    per_step = sum((path / f"{a}.npy").stat().st_size for a in ("obs_state", "actions",
                                                               "rewards")) / state.shape[0] / T
    assert per_step * 1000 * 100 * L <= 100e6, per_step


def test_stored_and_rendered_equals_stepped_frames(dataset):
    """Bit for bit: the frames env.step returned = load(...).obs, rendered from disk."""
    path, frames = dataset
    ds = load(path, env="watermaze")
    assert ds.stores_state and isinstance(ds.obs, RenderedObs)
    assert ds.obs.shape == (len(TASKS) * STREAMS, T, H, W, 3) and ds.obs.dtype == np.uint8
    want = frames.reshape(-1, T, H, W, 3)  # histories task-major, then stream
    np.testing.assert_array_equal(np.asarray(ds.obs), want)
    np.testing.assert_array_equal(ds.obs[3, 40:60], want[3, 40:60])
    np.testing.assert_array_equal(ds.obs[1, 7, 5], want[1, 7, 5])  # a pixel row
    assert len(np.unique(want.reshape(-1, 3), axis=0)) >= 6  # walls, sky, floor all shown


def test_training_windows_render_on_device(dataset):
    """The trainer keeps (x, y, heading) on device and renders each sampled window: the same
    bits as the stepped frames, across episode boundaries too."""
    path, frames = dataset
    arrays = as_arrays(load(path))
    assert arrays.obs.shape == (len(TASKS) * STREAMS, T, 3) and arrays.render is not None
    data = jax.device_put(device_data(arrays))
    h = jnp.array([0, 5, 2, 3])
    s = jnp.array([0, 30, T - 20, 45])
    batch = jax.jit(jax.vmap(sample_window, (None, 0, 0, None, None)),
                    static_argnums=(3, 4))(data, h, s, 20, 8)
    want = frames.reshape(-1, T, H, W, 3)
    got = np.asarray(batch.inputs.obs)
    assert got.dtype == np.uint8 and got.shape == (4, 20, H, W, 3)
    for i in range(4):
        np.testing.assert_array_equal(got[i], want[int(h[i]), int(s[i]):int(s[i]) + 20])
    np.testing.assert_array_equal(np.asarray(batch.targets), arrays.actions[[0, 5, 2, 3]][
        np.arange(4)[:, None], np.asarray(s)[:, None] + np.arange(20)])


def test_summary_says_how_obs_are_stored(dataset):
    text = info(dataset[0])
    assert "renderer state ['x', 'y', 'heading']" in text and f"[{H}, {W}, 3]" in text


@pytest.fixture
def copy(dataset, tmp_path):
    p = tmp_path / "copy"
    shutil.copytree(dataset[0], p)
    return p


def _edit(path, fn):
    m = json.loads((path / "manifest.json").read_text())
    fn(m)
    (path / "manifest.json").write_text(json.dumps(m))


def test_bad_state_manifests_are_named(copy):
    _edit(copy, lambda m: m["obs_storage"].update(frame_shape=[72, 96, 3]))
    with pytest.raises(DatasetError, match=r"manifest.json: obs_storage.frame_shape \[72, 96, 3\]"):
        load(copy)
    _edit(copy, lambda m: (m["obs_storage"].update(frame_shape=[H, W, 3]),
                           m["obs_storage"].update(fields=["x", "y"])))
    with pytest.raises(DatasetError, match="obs_storage.fields"):
        load(copy)
    _edit(copy, lambda m: m.pop("obs_storage"))
    with pytest.raises(DatasetError, match="format_version 2 without an obs_storage"):
        load(copy)
    _edit(copy, lambda m: m.update(format_version=3))
    with pytest.raises(DatasetError, match="unsupported format_version 3"):
        load(copy)


def test_bad_state_array_is_named(copy):
    np.save(copy / "obs_state.npy", np.zeros((1, 2, 3), np.float32))
    with pytest.raises(DatasetError, match=r"obs_state.npy: shape \[1, 2, 3\]"):
        load(copy)


def test_renderer_is_a_static_hashable_value(env):
    a = StateRenderer("watermaze", (("episode_len", L), ("height", H), ("width", W)))
    b = StateRenderer("watermaze", (("episode_len", L), ("height", H), ("width", W)))
    assert a == b and hash(a) == hash(b) and a.frame_shape == (H, W, 3)


def test_consumers_that_cannot_take_state_datasets_say_so(env, dataset):
    """Writing external frame histories for Watermaze, and a discrete-obs model fed rendered
    windows, fail with errors that say why (not a shape error deep inside)."""
    from adjax.data import HistoryError, write_histories
    from adjax.model import ADTransformer, ModelConfig

    with pytest.raises(HistoryError, match="renderer state"):
        write_histories(dataset[0].parent / "ext", np.zeros((1, L, H, W, 3)), np.zeros((1, L)),
                        np.zeros((1, L)), env=env[0], tasks=TASKS[:1],
                        task_index=np.zeros(1, np.int32))
    cfg = ModelConfig(obs_dims=(2, 2, 2), num_actions=8, context_len=4, d_model=8, num_heads=2,
                      num_layers=1, ff_dim=8)
    frames = jnp.zeros((1, 4, H, W, 3), jnp.uint8)
    with pytest.raises(ValueError, match="image observations need an image encoder"):
        jax.eval_shape(lambda: ADTransformer(cfg).init(jax.random.key(0), frames,
                                                       jnp.zeros((1, 4), jnp.int32),
                                                       jnp.zeros((1, 4))))


def test_rerun_of_a_complete_state_dataset_does_nothing(env, dataset, capsys):
    path, _ = dataset
    before = (path / "manifest.json").read_text()
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sources.SOURCES, RandomConfig.NAME, RANDOM)
        assert collect(CollectSpec(RandomConfig(), env[0], tasks=TASKS), path, chunk_size=2,
                       progress=False, plot=False) == path
        with pytest.raises(FileExistsError, match="num_episodes"):
            collect(CollectSpec(RandomConfig(num_episodes=2), env[0], tasks=TASKS), path,
                    chunk_size=2, progress=False, plot=False)
    assert "already complete" in capsys.readouterr().out
    assert (path / "manifest.json").read_text() == before


@pytest.mark.slow  # ~60 s; the encoder and the env settings are tested fast on their own
def test_ad_with_the_image_encoder_trains_on_rendered_windows_and_acts_in_its_arena(dataset,
                                                                                   tmp_path):
    """A state dataset trains AD's image encoder (windows rendered on device); the run records
    the arena's resolution, so its evaluation rebuilds the same 12x16 arena without being told."""
    from adjax.evaluate import EvalSpec, evaluate_run
    from adjax.model import cpu_model, with_image_encoder
    from adjax.train import TrainConfig, fit

    model = with_image_encoder(cpu_model((1,), 8, 2 * L, d_model=16, num_layers=1, num_heads=2,
                                         ff_dim=32), (H, W, 3), "cpu")
    ds = load(dataset[0])
    run = tmp_path / "run"
    fit(TrainConfig(batch_size=4, num_steps=2, warmup_steps=1, log_every=2, ckpt_every=2,
                    steps_per_call=2), model, ds, run, progress=False)
    data = json.loads((run / "config.json").read_text())["data"]
    assert data["env_kwargs"] == {"height": H, "width": W}
    res = evaluate_run(run, tmp_path / "eval.json",
                       EvalSpec(num_episodes=1, num_seeds=1, num_tasks=2, baselines=()),
                       batch_size=2, figure=False, progress=False)
    assert res["env_kwargs"] == {"height": H, "width": W}
    assert np.asarray(res["splits"]["test"]["curves"]["agent"]["returns"]).shape == (2, 1, 1)


def test_training_windows_carry_the_state_features_of_their_frames(dataset):
    """Each rendered window keeps the features (x, y, cos, sin heading) of the states its frames
    were drawn from: the auxiliary state loss's targets."""
    arrays = as_arrays(load(dataset[0]))
    assert arrays.render.num_features == 4
    data = jax.device_put(device_data(arrays))
    batch = jax.jit(jax.vmap(sample_window, (None, 0, 0, None, None)), static_argnums=(3, 4))(
        data, jnp.array([1, 4]), jnp.array([0, 70]), 20, 8)
    for i, (h, s) in enumerate([(1, 0), (4, 70)]):
        x, y, th = arrays.obs[h, s:s + 20].T
        np.testing.assert_allclose(np.asarray(batch.state[i]),
                                   np.stack([x, y, np.cos(th), np.sin(th)], -1), atol=1e-6)


def test_state_loss_trains_a_read_out_of_the_frame_embeddings(dataset, tmp_path):
    """TrainConfig.state_loss with ModelConfig.state_head: the read-out's error is logged and
    falls; without them nothing of it is computed or stored; mismatches are refused up front."""
    from adjax.model import ModelConfig, init_params
    from adjax.train import TrainConfig, fit
    from adjax.train.fit import RunConfigError

    model = ModelConfig(obs_dims=(H, W, 3), num_actions=8, context_len=L, obs_encoder="image",
                        image_channels=(4,), image_kernel=3, image_dense=16, d_model=16,
                        num_layers=1, num_heads=2, ff_dim=32, dropout=0.0, attn_dropout=0.0,
                        token_mask_prob=0.0, state_head=4)
    train = TrainConfig(batch_size=4, num_steps=60, warmup_steps=1, peak_lr=3e-3, log_every=20,
                        ckpt_every=60, steps_per_call=20, state_loss=1.0)
    assert "state_loss" in train.to_dict() and model.to_dict()["state_head"] == 4
    assert "state_loss" not in TrainConfig().to_dict()  # other runs' stored configs unchanged
    assert "state_head" not in dataclasses.replace(model, state_head=0).to_dict()
    assert "state_head" in init_params(model, jax.random.key(0))["params"]["embed"]["obs_embed"]
    ds = load(dataset[0])
    with pytest.raises(RunConfigError, match="needs both"):
        fit(dataclasses.replace(train, state_loss=0.0), model, ds, tmp_path / "x", progress=False)
    with pytest.raises(RunConfigError, match="has 4"):
        fit(train, dataclasses.replace(model, state_head=3), ds, tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()  # refused before anything is written
    run = tmp_path / "run"
    fit(train, model, ds, run, progress=False)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    mse = [r["state_mse"] for r in rows]
    assert len(mse) == 3 and mse[-1] < 0.7 * mse[0], mse
    for r in rows:  # the logged loss is the action loss plus the weighted read-out error
        assert r["loss"] == pytest.approx(r["action_loss"] + r["state_mse"], rel=1e-5)
