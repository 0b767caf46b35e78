"""Training windows, loss, schedule, learning, exact resume, NaN stop, config errors, sharding."""

import dataclasses
import json
import math
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adjax.model import ModelConfig
from adjax.train import (
    Arrays,
    DeviceData,
    RunConfigError,
    TrainConfig,
    action_loss,
    fit,
    load_run,
    sample_batch,
    schedule,
)

MODEL = ModelConfig(obs_dims=(3, 3), num_actions=3, context_len=10, d_model=16, num_layers=1,
                    num_heads=2, ff_dim=32, dropout=0.0, attn_dropout=0.0, token_mask_prob=0.0)
TRAIN = TrainConfig(batch_size=16, num_steps=60, warmup_steps=10, peak_lr=1e-2, log_every=20,
                    ckpt_every=20, steps_per_call=10)


def toy_arrays(H=4, T=40, env_name="toy", seed=0) -> Arrays:
    """a_t = (o_t[0] + o_t[1]) mod 3: learnable from the current observation alone."""
    rng = np.random.default_rng(seed)
    obs = rng.integers(0, 3, (H, T, 2)).astype(np.int8)
    acts = ((obs[..., 0] + obs[..., 1]) % 3).astype(np.uint8)
    rews = rng.integers(0, 2, (H, T)).astype(np.float16)
    return Arrays(obs, acts, rews, episode_len=5, env_name=env_name)


def test_windows_stay_inside_one_history():
    H, T, c, A = 5, 30, 7, 4
    h_HxT, t_HxT = np.meshgrid(np.arange(H), np.arange(T), indexing="ij")
    data = DeviceData(obs=jnp.asarray(np.stack([h_HxT, t_HxT], -1), jnp.int8),
                      actions=jnp.asarray((h_HxT + t_HxT) % A, jnp.uint8),
                      rewards=jnp.asarray(t_HxT, jnp.float16))
    b = jax.jit(sample_batch, static_argnums=(2, 3, 4))(jax.random.key(0), data, 512, c, A)
    obs = np.asarray(b.inputs.obs)
    h, s = obs[:, :1, 0], obs[:, :1, 1]
    np.testing.assert_array_equal(obs[..., 0], np.broadcast_to(h, (512, c)))  # one history
    np.testing.assert_array_equal(obs[..., 1], s + np.arange(c)[None])  # consecutive steps
    assert s.min() == 0 and s.max() == T - c
    np.testing.assert_array_equal(b.targets, (h + s + np.arange(c)[None]) % A)
    prev_a = np.where(s + np.arange(c)[None] > 0, (h + s + np.arange(c)[None] - 1) % A, A)
    np.testing.assert_array_equal(b.inputs.prev_action, prev_a)
    np.testing.assert_array_equal(b.inputs.prev_reward, np.maximum(s + np.arange(c)[None] - 1, 0))


def test_window_stride_starts_windows_at_episode_starts():
    H, T, c, A, ep = 3, 50, 20, 4, 10
    t_HxT = np.broadcast_to(np.arange(T), (H, T))
    data = DeviceData(obs=jnp.asarray(np.stack([t_HxT, t_HxT], -1), jnp.int8),
                      actions=jnp.zeros((H, T), jnp.uint8), rewards=jnp.zeros((H, T), jnp.float16))
    b = jax.jit(sample_batch, static_argnums=(2, 3, 4, 5))(jax.random.key(1), data, 256, c, A, ep)
    starts = np.asarray(b.inputs.obs)[:, 0, 0]
    # every episode start that leaves room for a whole window: 0, 10, 20, 30
    assert sorted(set(starts.tolist())) == [0, 10, 20, 30]
    with pytest.raises(ValueError, match="window_stride"):
        TrainConfig(window_stride=0)


def test_episode_marker_marks_every_episode_start_in_training_windows():
    """With ModelConfig.episode_marker, a window's steps at episode starts (history index t with
    t % episode_len == 0) read previous action "none" and reward 0; every other input, and every
    input of a model without the marker, is the plain window's."""
    from adjax.train import train_windows

    H, T, c, A, ep = 4, 40, 12, 3, 5
    h_HxT, t_HxT = np.meshgrid(np.arange(H), np.arange(T), indexing="ij")
    data = DeviceData(obs=jnp.asarray(np.stack([h_HxT, t_HxT], -1), jnp.int8),
                      actions=jnp.asarray((h_HxT + t_HxT) % A, jnp.uint8),
                      rewards=jnp.asarray(t_HxT + 1, jnp.float16), episode_len=ep)
    model = dataclasses.replace(MODEL, num_actions=A, context_len=c)
    train = dataclasses.replace(TRAIN, batch_size=64)
    key = jax.random.key(2)
    plain = train_windows(key, data, model, train)
    marked = train_windows(key, data, dataclasses.replace(model, episode_marker=True), train)
    t = np.asarray(plain.inputs.obs)[..., 1]
    first = t % ep == 0
    assert first.any() and (~first).any() and (t % ep != 0)[:, 0].any()  # windows start anywhere
    np.testing.assert_array_equal(marked.inputs.prev_action,
                                  np.where(first, A, plain.inputs.prev_action))
    np.testing.assert_array_equal(marked.inputs.prev_reward,
                                  np.where(first, 0, plain.inputs.prev_reward))
    assert (np.asarray(plain.inputs.prev_action)[first & (t > 0)] != A).all()
    np.testing.assert_array_equal(marked.inputs.obs, plain.inputs.obs)
    np.testing.assert_array_equal(marked.targets, plain.targets)
    with pytest.raises(ValueError, match="episode length"):
        train_windows(key, data.replace(episode_len=None),
                      dataclasses.replace(model, episode_marker=True), train)


def test_smoothed_loss_by_hand():
    logits = jnp.array([[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    targets = jnp.array([[0, 2]])
    loss, acc = action_loss(logits, targets, 0.3)
    # labels (1 - 0.3) * onehot + 0.3 / 3 = 0.8 on the target, 0.1 elsewhere
    l0 = math.log(math.e**2 + 2) - 0.8 * 2.0
    l1 = math.log(math.e + 2) - 0.1 * 1.0
    np.testing.assert_allclose(loss, (l0 + l1) / 2, rtol=1e-6)
    assert float(acc) == 0.5
    np.testing.assert_allclose(action_loss(logits, targets, 0.0)[0],
                               (math.log(math.e**2 + 2) - 2 + math.log(math.e + 2)) / 2, rtol=1e-6)


def test_schedule_warmup_then_cosine():
    cfg = TrainConfig(num_steps=100, warmup_steps=10, init_lr=2e-6, peak_lr=3e-4, end_lr=1e-6)
    lr = schedule(cfg)
    np.testing.assert_allclose([lr(0), lr(10), lr(100)], [2e-6, 3e-4, 1e-6], rtol=1e-5)
    assert lr(5) < lr(10) and lr(50) < lr(10)


@pytest.mark.parametrize("layout", ["one", "three"])
def test_overfits_tiny_dataset(tmp_path, layout):
    cfg = MODEL.__class__(**{**MODEL.to_dict(), "layout": layout})
    fit(TRAIN, cfg, toy_arrays(), tmp_path, progress=False)
    rows = [json.loads(ln) for ln in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [20, 40, 60]
    assert rows[-1]["accuracy"] > 0.97 and rows[-1]["loss"] < 0.1
    m, params, config = load_run(tmp_path)
    assert m == cfg and config["step"] == 60 and config["data"]["env"] == "toy"


def test_resume_is_exact(tmp_path):
    arrays = toy_arrays()
    p_full = fit(TRAIN, MODEL, arrays, tmp_path / "a", progress=False)
    fit(TRAIN, MODEL, arrays, tmp_path / "b", stop_at=30, progress=False)
    assert load_run(tmp_path / "b")[2]["step"] == 30
    p_resumed = fit(TRAIN, MODEL, arrays, tmp_path / "b", progress=False)
    jax.tree.map(np.testing.assert_array_equal, p_full, p_resumed)
    lines = (tmp_path / "b/metrics.jsonl").read_text().splitlines()
    steps = [json.loads(ln)["step"] for ln in lines]
    assert steps == [20, 30, 40, 60]


def test_one_step_calls_train_as_the_loop_does():
    """steps_per_call=1 runs one step outside any loop (XLA:CPU's convolutions are slow inside
    one): the same steps as a 2-step loop, up to float rounding, and the same metrics' shape."""
    from adjax.train import init_state, make_train_chunk
    from adjax.train.windows import as_arrays, device_data

    data = jax.tree.map(lambda x: jnp.asarray(x) if isinstance(x, np.ndarray) else x,
                        device_data(as_arrays(toy_arrays())))
    chunk = make_train_chunk(MODEL, TRAIN)
    looped, m2 = chunk(init_state(MODEL, TRAIN), data, 2)
    state, m1 = chunk(init_state(MODEL, TRAIN), data, 1)
    assert m1["loss"].shape == (1,) and int(state.step) == 1
    state, m1b = chunk(state, data, 1)
    assert int(state.step) == 2
    np.testing.assert_allclose([m1["loss"][0], m1b["loss"][0]], m2["loss"], rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
                 state.params, looped.params)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    fit(TRAIN, MODEL, toy_arrays(), tmp_path, stop_at=20, progress=False)
    bad = toy_arrays()
    bad.rewards[:] = np.nan
    with pytest.raises(FloatingPointError, match="step 20"):
        fit(TRAIN, MODEL, bad, tmp_path, progress=False)
    assert load_run(tmp_path)[2]["step"] == 20


def test_config_mismatches_are_clear_errors(tmp_path):
    fit(TRAIN, MODEL, toy_arrays(), tmp_path, stop_at=10, progress=False)
    with pytest.raises(RunConfigError, match="env 'toy'"):
        fit(TRAIN, MODEL, toy_arrays(env_name="other"), tmp_path, progress=False)
    bigger = MODEL.__class__(**{**MODEL.to_dict(), "d_model": 32})
    with pytest.raises(RunConfigError, match="another model"):
        fit(TRAIN, bigger, toy_arrays(), tmp_path, progress=False)
    short = MODEL.__class__(**{**MODEL.to_dict(), "context_len": 4})
    with pytest.raises(RunConfigError, match="shorter than one episode"):
        fit(TRAIN, short, toy_arrays(), tmp_path / "short", progress=False)
    wrong_obs = MODEL.__class__(**{**MODEL.to_dict(), "obs_dims": (2, 3)})
    with pytest.raises(RunConfigError, match="obs_dims"):
        fit(TRAIN, wrong_obs, toy_arrays(), tmp_path / "obs", progress=False)
    # a run written before a field existed resumes: the missing field reads as its default
    cfg_path = tmp_path / "config.json"
    old = json.loads(cfg_path.read_text())
    del old["train"]["window_stride"]
    cfg_path.write_text(json.dumps(old))
    fit(TRAIN, MODEL, toy_arrays(), tmp_path, stop_at=20, progress=False)
    assert load_run(tmp_path)[2]["step"] == 20
    with pytest.raises(RunConfigError, match="window_stride"):
        fit(dataclasses.replace(TRAIN, window_stride=5), MODEL, toy_arrays(), tmp_path,
            progress=False)


SHARDED = textwrap.dedent("""
    import os, tempfile
    import jax, numpy as np
    assert jax.local_device_count() == 8
    from adjax.model import ModelConfig
    from adjax.train import TrainConfig, RunConfigError, fit, init_state, make_train_chunk
    from adjax.train.step import data_mesh, replicate, to_device
    from test_train import MODEL, toy_arrays
    model = MODEL.__class__(**{**MODEL.to_dict(), "dropout": 0.1, "attn_dropout": 0.5,
                                                   "token_mask_prob": 0.3})
    train = TrainConfig(batch_size=16, num_steps=4, warmup_steps=2, peak_lr=1e-2)
    arrays = toy_arrays()
    out = {}
    for mesh in (None, data_mesh(8)):
        state = replicate(init_state(model, train), mesh)
        state, m = make_train_chunk(model, train, mesh)(state, to_device(arrays, mesh), 4)
        out[mesh is None] = (np.asarray(m["loss"]), jax.tree.map(np.asarray, state.params))
    np.testing.assert_allclose(out[True][0], out[False][0], rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=5e-5),
                 out[True][1], out[False][1])
    try:
        fit(TrainConfig(batch_size=12), model, arrays, tempfile.mkdtemp(), progress=False)
        raise SystemExit("no error")
    except RunConfigError as e:
        assert "not divisible by 8 devices" in str(e), e
    print("SHARDED_OK", out[True][0])
""")


@pytest.mark.slow
def test_sharded_step_matches_single_device():
    """8 forced CPU devices, batch sharded over "data", vs one device (Adam amplifies the
    all-reduce's rounding on near-zero gradients, hence atol 5e-5 at lr 1e-2)."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
           "PYTHONPATH": os.path.dirname(__file__), "JAX_PLATFORMS": "cpu"}
    r = subprocess.run([sys.executable, "-c", SHARDED], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and "SHARDED_OK" in r.stdout, r.stdout + r.stderr[-3000:]
