"""Step inputs, the discrete obs encoder and random input-token masking."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adjax.model import ModelConfig, step_inputs
from adjax.model.tokens import DiscreteObsEncoder, FactoredObsEncoder, StepEmbed

CFG = ModelConfig(obs_dims=(3, 4), num_actions=3, context_len=6, d_model=8, num_layers=1,
                  num_heads=2, ff_dim=16, token_mask_prob=0.3)


def test_step_inputs_by_hand():
    obs = jnp.array([[0, 1], [2, 3], [1, 1]])
    si = step_inputs(obs, jnp.array([2, 0, 1], jnp.uint8), jnp.array([0.0, 1.0, 0.5]), 3, 0.0)
    np.testing.assert_array_equal(si.prev_action, [3, 2, 0])
    np.testing.assert_array_equal(si.prev_reward, [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(si.obs, obs)
    assert si.prev_action.dtype == jnp.int32 and si.prev_reward.dtype == jnp.float32
    si = step_inputs(obs, jnp.array([2, 0, 1]), jnp.array([0.0, 1.0, 0.5]), 1, 1.0)
    np.testing.assert_array_equal(si.prev_action, [1, 2, 0])
    np.testing.assert_array_equal(si.prev_reward, [1.0, 0.0, 1.0])
    with pytest.raises(AssertionError):
        step_inputs(obs[0], jnp.array([1]), jnp.array([0.0]), 3, 0.0)


def test_discrete_encoder_is_mixed_radix():
    enc = DiscreteObsEncoder((3, 4), 5)
    params = enc.init(jax.random.key(0), jnp.zeros((1, 2), jnp.int32))
    table = params["params"]["Embed_0"]["embedding"]
    assert table.shape == (12, 5)
    obs = jnp.array([[x, y] for x in range(3) for y in range(4)])
    np.testing.assert_array_equal(enc.apply(params, obs), table[jnp.arange(12)])


def test_factored_encoder_sums_one_table_per_component():
    enc = FactoredObsEncoder((3, 4), 5)
    params = enc.init(jax.random.key(0), jnp.zeros((1, 2), jnp.int32))["params"]
    tx, ty = params["dim0"]["embedding"], params["dim1"]["embedding"]
    assert tx.shape == (3, 5) and ty.shape == (4, 5)
    obs = jnp.array([[x, y] for x in range(3) for y in range(4)])
    want = tx[obs[:, 0]] + ty[obs[:, 1]]
    np.testing.assert_allclose(enc.apply({"params": params}, obs), want, rtol=1e-6)


def test_unknown_obs_encoder_is_a_clear_error():
    with pytest.raises(ValueError, match="obs_encoder"):
        ModelConfig((9, 9), 5, 10, obs_encoder="pixels")


@pytest.fixture(scope="module")
def embed_and_params():
    embed = StepEmbed(CFG)
    obs, act, rew = jnp.zeros((1, 1, 2), jnp.int32), jnp.zeros((1, 1), jnp.int32), jnp.zeros((1, 1))
    return embed, embed.init(jax.random.key(0), obs, act, rew, False)


def _inputs(B, T):
    k1, k2, k3 = jax.random.split(jax.random.key(1), 3)
    obs = jnp.stack([jax.random.randint(k1, (B, T), 0, 3),
                     jax.random.randint(k2, (B, T), 0, 4)], axis=-1)
    return obs, jax.random.randint(k3, (B, T), 0, 4), jnp.ones((B, T))


def test_masking_rate_and_replacement(embed_and_params):
    embed, params = embed_and_params
    obs, act, rew = _inputs(64, 6)
    cfg3 = CFG.__class__(**{**CFG.to_dict(), "layout": "three"})
    x3, inter = StepEmbed(cfg3).apply(params, obs, act, rew, True, mutable=["intermediates"],
                                      rngs={"dropout": jax.random.key(2)})
    masked = inter["intermediates"]["token_mask_BxTx3"][0]
    assert masked.shape == (64, 6, 3)
    assert abs(float(masked.mean()) - 0.3) < 0.04
    clean = StepEmbed(cfg3).apply(params, obs, act, rew, False).reshape(64, 6, 3, -1)
    x3 = x3.reshape(64, 6, 3, -1)
    mask_vec = params["params"]["mask_embed"]
    np.testing.assert_allclose(x3, np.where(masked[..., None], mask_vec[None, None], clean))
    x1 = embed.apply(params, obs, act, rew, True, rngs={"dropout": jax.random.key(2)})
    np.testing.assert_allclose(x1, x3.sum(axis=2), rtol=1e-6)


def test_no_masking_at_eval(embed_and_params):
    embed, params = embed_and_params
    obs, act, rew = _inputs(4, 6)
    x, inter = embed.apply(params, obs, act, rew, False, mutable=["intermediates"])
    assert not inter  # nothing drawn, nothing sown, no rng needed
    e = params["params"]
    obs_idx = obs[..., 0] * 4 + obs[..., 1]
    ref = (e["obs_embed"]["Embed_0"]["embedding"][obs_idx] + e["act_embed"]["embedding"][act]
           + rew[..., None] * e["rew_embed"]["kernel"][None] + e["rew_embed"]["bias"][None, None])
    np.testing.assert_allclose(x, ref, rtol=1e-5, atol=1e-6)
