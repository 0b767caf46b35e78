"""Causality by gradient and cached `extend` == full pass, for both layouts and norms."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adjax.model import ADTransformer, ModelConfig, attention_weights, init_cache, init_params

T = 6


def _inputs(B, T, seed=1):
    k1, k2, k3, k4 = jax.random.split(jax.random.key(seed), 4)
    obs = jnp.stack([jax.random.randint(k1, (B, T), 0, 3),
                     jax.random.randint(k2, (B, T), 0, 4)], axis=-1)
    return obs, jax.random.randint(k3, (B, T), 0, 4), jax.random.bernoulli(k4, 0.5, (B, T)) * 1.0


class Model:
    """A tiny config, its params and jitted full / extend passes (compiled once per module)."""

    def __init__(self, layout, norm):
        self.cfg = ModelConfig(obs_dims=(3, 4), num_actions=3, context_len=T, layout=layout,
                               d_model=16, num_layers=2, num_heads=2, ff_dim=32, norm=norm)
        self.m = ADTransformer(self.cfg)
        self.params = init_params(self.cfg, jax.random.key(0))
        self.full = jax.jit(self.m.apply, static_argnames="train")
        self.extend = jax.jit(functools.partial(self.m.apply, method="extend"))


@pytest.fixture(scope="module", params=[("one", "post"), ("three", "post"), ("three", "pre")],
                ids=lambda p: "-".join(p))
def model(request):
    return Model(*request.param)


def test_causal_by_gradient(model):
    m, params, tps = model.m, model.params, model.cfg.tokens_per_step
    obs, act, rew = _inputs(2, T)
    _, pert = m.apply(params, obs, act, rew, mutable=["perturbations"])

    def f(p):
        logits = m.apply({**params, "perturbations": p}, obs, act, rew, train=True,
                         rngs={"dropout": jax.random.key(3)})
        return logits.sum(axis=(0, 2))  # [T]

    jac_TxBxNxD = jax.jit(jax.jacrev(f))(pert["perturbations"])["tokens_BxNxD"]
    for t in range(T):
        g_N = np.abs(np.asarray(jac_TxBxNxD[t])).sum(axis=(0, 2))
        assert np.all(g_N[(t + 1) * tps:] == 0), (t, g_N)
        assert np.all(g_N[: (t + 1) * tps] > 0), (t, g_N)


def test_train_mode_is_stochastic_eval_is_not(model):
    obs, act, rew = _inputs(2, T)
    a = model.full(model.params, obs, act, rew, train=True, rngs={"dropout": jax.random.key(1)})
    b = model.full(model.params, obs, act, rew, train=True, rngs={"dropout": jax.random.key(2)})
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(model.full(model.params, obs, act, rew),
                                  model.full(model.params, obs, act, rew))


@pytest.mark.parametrize("chunks", [(1,) * T, (2, 3, 1), (T,)], ids=["steps", "chunks", "whole"])
def test_cached_extend_equals_full_pass(model, chunks):
    obs, act, rew = _inputs(3, T)
    full = model.full(model.params, obs, act, rew)
    cache, outs, t0 = init_cache(model.cfg, 3), [], 0
    for n in chunks:
        sl = slice(t0, t0 + n)
        out, cache = model.extend(model.params, obs[:, sl], act[:, sl], rew[:, sl], cache=cache)
        outs.append(out)
        t0 += n
    np.testing.assert_allclose(jnp.concatenate(outs, axis=1), full, rtol=1e-5, atol=1e-5)
    assert int(cache.length) == T * model.cfg.tokens_per_step
    np.testing.assert_array_equal(cache.pos_B, [T] * 3)


def test_left_padding_takes_no_position(model):
    obs, act, rew = _inputs(2, T)
    pad = (2, 4)  # row b: pad[b] padding steps, then its first T - pad[b] real steps; 2 chunks

    def left_pad(x, fill):
        rows = [jnp.concatenate([jnp.full_like(x[b, :p], fill), x[b, : T - p]]) for b, p in
                enumerate(pad)]
        return jnp.stack(rows)

    obs_p, act_p, rew_p = left_pad(obs, 0), left_pad(act, 0), left_pad(rew, 7.0)
    valid = jnp.arange(T)[None, :] >= jnp.array(pad)[:, None]
    cache = init_cache(model.cfg, 2)
    outs = []
    for sl in (slice(0, 3), slice(3, T)):
        out, cache = model.extend(model.params, obs_p[:, sl], act_p[:, sl], rew_p[:, sl],
                                  cache=cache, valid=valid[:, sl])
        outs.append(out)
    padded = jnp.concatenate(outs, axis=1)
    assert np.all(np.isfinite(padded))
    ref = model.full(model.params, obs, act, rew)
    for b, p in enumerate(pad):
        np.testing.assert_allclose(padded[b, p:], ref[b, : T - p], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(cache.pos_B, [T - p for p in pad])


@pytest.fixture(scope="module")
def three_post():
    """The attention tests' one model: three tokens per step (queries and keys of a step's
    tokens) and the paper's post-norm; the other layouts compute attention the same way."""
    return Model("three", "post")


def test_attention_weights_leave_the_output_unchanged(three_post):
    """Recording the weights (mutable intermediates) gives the default pass's logits bit for bit;
    each query's weights sum to 1 over the keys before it and are exactly 0 on later keys."""
    model = three_post
    obs, act, rew = _inputs(2, T)
    logits, w = jax.jit(attention_weights, static_argnums=0)(model.cfg, model.params, obs, act,
                                                              rew)
    np.testing.assert_array_equal(logits, model.full(model.params, obs, act, rew))
    N = T * model.cfg.tokens_per_step
    assert w.shape == (model.cfg.num_layers, 2, model.cfg.num_heads, N, N)
    future = np.triu(np.ones((N, N), bool), k=1)
    assert np.all(np.asarray(w)[..., future] == 0)
    np.testing.assert_allclose(np.asarray(w).sum(-1), 1.0, rtol=0, atol=1e-5)
    assert np.all(np.asarray(w)[..., ~future] > 0)  # untrained weights: no allowed key ignored


def test_attention_weights_are_zero_on_padding(three_post):
    """In a cached pass the weights over the cache's slots are 0 on padding (invalid) steps and
    on slots not yet written, and sum to 1 over the rest."""
    model = three_post
    obs, act, rew = _inputs(1, T)
    valid = jnp.arange(T)[None] >= 2  # two padding steps, then four real ones
    extend = jax.jit(functools.partial(model.m.apply, method="extend", mutable=["intermediates"]))
    (_, _), state = extend(model.params, obs, act, rew, cache=init_cache(model.cfg, 1),
                           valid=valid)
    w = np.asarray(state["intermediates"]["block_0"]["attn"]["attn_weights"][0])[0]  # [H, N, S]
    tps = model.cfg.tokens_per_step
    pad_slots = np.arange(w.shape[-1]) < 2 * tps
    real_q = np.arange(w.shape[1]) >= 2 * tps  # padding queries are meaningless
    assert np.all(w[:, real_q][..., pad_slots] == 0)
    assert np.all(np.triu(w[:, real_q][:, :, 2 * tps:], k=1) == 0)  # future slots
    np.testing.assert_allclose(w[:, real_q].sum(-1), 1.0, rtol=0, atol=1e-5)
