"""LSTM-AD: shapes, causality by gradient, stepping from a state == the window pass, left padding,
the LSTM layer == flax's LSTM cell, the config switch (and the transformer's dict unchanged)."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adjax.model import (
    ADLSTM,
    ModelConfig,
    cpu_lstm_model,
    cpu_model,
    init_carry,
    init_params,
    make_model,
)

T = 6
CFG = ModelConfig(obs_dims=(3, 4), num_actions=3, context_len=T, d_model=16,
                  sequence_model="lstm", lstm_hidden=12, lstm_layers=2, lstm_head=(20, 10))


def _inputs(B, T, seed=1):
    k1, k2, k3, k4 = jax.random.split(jax.random.key(seed), 4)
    obs = jnp.stack([jax.random.randint(k1, (B, T), 0, 3),
                     jax.random.randint(k2, (B, T), 0, 4)], axis=-1)
    return obs, jax.random.randint(k3, (B, T), 0, 4), jax.random.bernoulli(k4, 0.5, (B, T)) * 1.0


@pytest.fixture(scope="module")
def model():
    m = ADLSTM(CFG)
    params = jax.jit(init_params, static_argnums=0)(CFG, jax.random.key(0))
    full = jax.jit(m.apply, static_argnames="train")
    extend = jax.jit(functools.partial(m.apply, method="extend"))
    return m, params, full, extend


def test_shapes_and_parameters(model):
    m, params, full, _ = model
    obs, act, rew = _inputs(2, T)
    assert full(params, obs, act, rew).shape == (2, T, CFG.num_actions)
    p = params["params"]
    assert set(p) == {"embed", "lstm_0", "lstm_1", "mlp_0", "mlp_1", "head"}
    assert p["lstm_0"]["in_kernel"].shape == (16, 4 * 12)
    assert p["lstm_1"]["rec_kernel"].shape == (12, 4 * 12)
    assert p["mlp_0"]["kernel"].shape == (12 + 16, 20)  # [LSTM output, o_t's embedding]
    assert isinstance(make_model(CFG), ADLSTM)
    carry = init_carry(CFG, 5)
    assert [(c.shape, h.shape) for c, h in carry] == [((5, 12), (5, 12))] * 2


def test_causal_by_gradient(model):
    """The logits of step t depend on every input component of steps <= t and on none after."""
    m, params, _, _ = model
    obs, act, rew = _inputs(2, T)
    _, pert = m.apply(params, obs, act, rew, mutable=["perturbations"])

    def f(p):
        logits = m.apply({**params, "perturbations": p}, obs, act, rew, train=True,
                         rngs={"dropout": jax.random.key(3)})
        return logits.sum(axis=(0, 2))  # [T]

    jac = jax.jit(jax.jacrev(f))(pert["perturbations"])["components_BxTx3xD"]  # [T, B, T, 3, D]
    for t in range(T):
        g_Tx3 = np.abs(np.asarray(jac[t])).sum(axis=(0, 3))
        assert np.all(g_Tx3[t + 1:] == 0), (t, g_Tx3)
        assert np.all(g_Tx3[: t + 1] > 0), (t, g_Tx3)


def test_train_mode_is_stochastic_eval_is_not(model):
    _, params, full, _ = model
    obs, act, rew = _inputs(2, T)
    a = full(params, obs, act, rew, train=True, rngs={"dropout": jax.random.key(1)})
    b = full(params, obs, act, rew, train=True, rngs={"dropout": jax.random.key(2)})
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(full(params, obs, act, rew), full(params, obs, act, rew))


@pytest.mark.parametrize("chunks", [(1,) * T, (3, 3)], ids=["steps", "chunks"])
def test_extend_from_a_state_equals_the_window_pass(model, chunks):
    _, params, full, extend = model
    obs, act, rew = _inputs(3, T)
    ref = full(params, obs, act, rew)
    carry, outs, t0 = init_carry(CFG, 3), [], 0
    for n in chunks:
        sl = slice(t0, t0 + n)
        out, carry = extend(params, obs[:, sl], act[:, sl], rew[:, sl], carry)
        outs.append(out)
        t0 += n
    np.testing.assert_allclose(jnp.concatenate(outs, axis=1), ref, rtol=1e-5, atol=1e-5)


def test_left_padding_leaves_the_state_unchanged(model):
    _, params, full, extend = model
    obs, act, rew = _inputs(2, T)
    pad = (2, 4)

    def left_pad(x, fill):
        return jnp.stack([jnp.concatenate([jnp.full_like(x[b, :p], fill), x[b, : T - p]])
                          for b, p in enumerate(pad)])

    valid = jnp.arange(T)[None, :] >= jnp.array(pad)[:, None]
    out, _ = extend(params, left_pad(obs, 1), left_pad(act, 2), left_pad(rew, 7.0),
                    init_carry(CFG, 2), valid=valid)
    ref = full(params, obs, act, rew)
    for b, p in enumerate(pad):
        np.testing.assert_allclose(out[b, p:], ref[b, : T - p], rtol=1e-5, atol=1e-5)


# Its own compilation (~15 s on the shared CPU under load): run by `make test-slow`.
@pytest.mark.slow
def test_layer_is_flax_lstm_cell():
    """The packed layer computes what `nn.OptimizedLSTMCell` computes with the same weights."""
    from adjax.model.lstm import LSTMLayer

    D, H, B, T_ = 5, 7, 3, 4
    layer, cell = LSTMLayer(H), nn.OptimizedLSTMCell(H)
    x = jax.random.normal(jax.random.key(0), (B, T_, D))
    z = (jnp.zeros((B, H)), jnp.zeros((B, H)))
    valid = jnp.ones((B, T_), bool)

    @jax.jit
    def both():
        p = layer.init(jax.random.key(1), x, z, valid)["params"]
        p = jax.tree.map(lambda a: a + 0.1 * jax.random.normal(jax.random.key(2), a.shape), p)
        cut = lambda a, g: a[..., g * H:(g + 1) * H]
        flax_p = {**{f"i{n}": {"kernel": cut(p["in_kernel"], g)} for g, n in enumerate("ifgo")},
                  **{f"h{n}": {"kernel": cut(p["rec_kernel"], g), "bias": cut(p["bias"], g)}
                     for g, n in enumerate("ifgo")}}
        carry, hs = z, []
        for t in range(T_):
            carry, h = cell.apply({"params": flax_p}, carry, x[:, t])
            hs.append(h)
        out, (c, _) = layer.apply({"params": p}, x, z, valid)
        return out, c, jnp.stack(hs, axis=1), carry[0]

    out, c, ref_out, ref_c = both()
    np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c, ref_c, rtol=1e-5, atol=1e-6)


def test_config_switch_and_stored_dicts():
    tr = cpu_model((9, 9), 5, 80)
    d = tr.to_dict()
    assert "sequence_model" not in d and "lstm_hidden" not in d  # as stored before the LSTM
    assert ModelConfig.from_dict(d) == tr
    lstm = cpu_lstm_model((9, 9), 5, 80)
    assert lstm.sequence_model == "lstm" and lstm.lstm_head == (128, 128)
    d = lstm.to_dict()
    assert d["sequence_model"] == "lstm" and ModelConfig.from_dict(d) == lstm
    import json

    assert ModelConfig.from_dict(json.loads(json.dumps(d))) == lstm  # lists back to tuples
    with pytest.raises(ValueError, match="sequence_model"):
        ModelConfig(obs_dims=(3,), num_actions=2, context_len=4, sequence_model="gru")
    with pytest.raises(ValueError, match="layout"):
        ModelConfig(obs_dims=(3,), num_actions=2, context_len=4, sequence_model="lstm",
                    layout="three")
    with pytest.raises(ValueError, match="lstm_hidden"):
        ModelConfig(obs_dims=(3,), num_actions=2, context_len=4, sequence_model="lstm",
                    lstm_hidden=0)
