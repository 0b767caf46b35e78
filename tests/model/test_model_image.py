"""The image encoder (obs_encoder "image", Watermaze's frames): config, BatchNorm statistics kept
by training and used frozen by evaluation, and AD trained on frames acting in a Watermaze arena
with KV-cached decoding equal to the window pass."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adjax import envs
from adjax.model import (
    ModelConfig,
    init_params,
    make_model,
    num_weights,
    paper_model,
    with_image_encoder,
)
from adjax.train import Arrays, TrainConfig

H, W = 12, 16
A = 8  # Watermaze's actions (the toy frames use the first 3)
CFG = ModelConfig(obs_dims=(H, W, 3), num_actions=A, context_len=20, obs_encoder="image",
                  image_channels=(8, 8), image_kernel=3, image_dense=16, d_model=16,
                  num_layers=1, num_heads=2, ff_dim=32, dropout=0.0, attn_dropout=0.0,
                  token_mask_prob=0.0)


def frames_data(num_histories=8, T=40, seed=0) -> Arrays:
    """Frames whose mean brightness says the action (dark 0, mid 1, bright 2): a target an image
    encoder learns quickly and a discrete one cannot read."""
    rng = np.random.default_rng(seed)
    acts = rng.integers(0, 3, (num_histories, T)).astype(np.uint8)
    frames = (acts[..., None, None, None] * 100 + rng.integers(0, 40, (num_histories, T, H, W, 3)))
    return Arrays(frames.astype(np.uint8), acts, np.zeros((num_histories, T), np.float16),
                  episode_len=10, env_name="toy-frames", num_actions=A)


def test_config_fields_and_errors():
    d = CFG.to_dict()
    assert d["image_channels"] == (8, 8) and ModelConfig.from_dict(json.loads(json.dumps(d))) == CFG
    plain = ModelConfig(obs_dims=(9, 9), num_actions=5, context_len=10).to_dict()
    assert not any(k.startswith("image_") for k in plain)  # stored configs of other runs unchanged
    paper = with_image_encoder(paper_model((1,), 8, 40), (72, 96, 3), "paper")
    assert paper.image_channels == (128, 128, 128) and paper.image_kernel == 5
    assert paper.image_dense == 256 and paper.image_dropout == 0.2  # the paper's encoder
    with pytest.raises(ValueError, match=r"frame's \(H, W, C\)"):
        ModelConfig(obs_dims=(9, 9), num_actions=5, context_len=10, obs_encoder="image")
    with pytest.raises(ValueError, match="image_dropout"):
        ModelConfig(obs_dims=(H, W, 3), num_actions=5, context_len=10, obs_encoder="image",
                    image_dropout=1.0)


@pytest.fixture(scope="module")
def variables():
    return jax.jit(init_params, static_argnums=0)(CFG, jax.random.key(0))


def test_variables_hold_batch_stats_that_are_not_weights(variables):
    assert set(variables) == {"params", "batch_stats"}
    stats = jax.tree.leaves(variables["batch_stats"])
    assert stats and num_weights(variables) == num_weights(variables["params"])


def test_training_pass_updates_statistics_evaluation_uses_them(variables):
    """train=True normalises with the batch's statistics and returns new running averages;
    train=False uses the stored ones, so a window's logits do not depend on its batch."""
    model, data = make_model(CFG), frames_data()
    obs, act = jnp.asarray(data.obs[:4, :20]), jnp.asarray(data.actions[:4, :20], jnp.int32)
    rew = jnp.zeros((4, 20))
    _, new = jax.jit(lambda v: model.apply(v, obs, act, rew, train=True, mutable=["batch_stats"],
                                           rngs={"dropout": jax.random.key(1)}))(variables)
    moved = jax.tree.map(lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))),
                         variables["batch_stats"], new["batch_stats"])
    assert all(jax.tree.leaves(moved))
    apply = jax.jit(model.apply)  # evaluation mode
    alone, batched = apply(variables, obs[:1], act[:1], rew[:1]), apply(variables, obs, act, rew)
    np.testing.assert_allclose(alone[0], batched[0], atol=1e-6)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from adjax.train import fit

    out = tmp_path_factory.mktemp("image-run")
    fit(TrainConfig(batch_size=8, num_steps=60, warmup_steps=5, peak_lr=3e-3, log_every=60,
                    ckpt_every=60, steps_per_call=60), CFG, frames_data(), out, progress=False)
    return out


def test_fit_trains_weights_and_keeps_statistics(trained, variables):
    from adjax.train import load_run

    metrics = [json.loads(ln) for ln in (trained / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["accuracy"] > 0.8, metrics[-1]  # chance 1/3: brightness read by the encoder
    cfg, params, _ = load_run(trained)
    assert cfg == CFG and set(params) == {"params", "batch_stats"}
    mean = np.asarray(params["batch_stats"]["embed"]["obs_embed"]["bn0"]["mean"])
    init = np.asarray(variables["batch_stats"]["embed"]["obs_embed"]["bn0"]["mean"])
    assert np.all(init == 0) and np.any(mean != 0)  # the running averages were trained
    with pytest.raises(ValueError, match="obs_encoder 'image'"):
        from adjax.train import fit

        plain = ModelConfig(obs_dims=(9, 9), num_actions=A, context_len=20)
        fit(TrainConfig(batch_size=8, num_steps=2), plain, frames_data(), trained / "x",
            progress=False)


def test_loaded_agent_acts_in_a_watermaze_arena_with_cached_decoding(trained):
    """load_agent -> a transformer agent on uint8 frames; in a 12x16 Watermaze arena every decoded
    step's logits equal a fresh pass over its window (BatchNorm frozen: no batch dependence)."""
    from adjax.evaluate import load_agent, rollout

    agent = load_agent(trained)
    assert agent.spec.obs_shape == (H, W, 3) and agent.spec.obs_dtype == "uint8"
    env, params = envs.make("watermaze", height=H, width=W)
    assert env.num_actions == A
    c, b, T = CFG.context_len, 5, 30
    tr = rollout(jax.random.key(2), agent, env, params, T, b)
    assert tr.obs.shape == (T, H, W, 3) and tr.obs.dtype == jnp.uint8
    k = np.minimum(np.arange(T) + 1, c - b + np.arange(T) % b + 1)
    end = np.arange(T) + 1
    idx = np.minimum(end[:, None] - k[:, None] + np.arange(c)[None], end[:, None] - 1)
    obs, act, rew = np.asarray(tr.obs), np.asarray(tr.prev_act), np.asarray(tr.prev_rew)
    full = jax.vmap(agent.full_logits)(jnp.asarray(obs[idx]), jnp.asarray(act[idx]),
                                       jnp.asarray(rew[idx]))
    np.testing.assert_allclose(tr.logits, full[np.arange(T), k - 1], atol=2e-5, rtol=1e-5)
