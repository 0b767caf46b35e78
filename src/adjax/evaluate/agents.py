"""AD/ED models as evaluation `Agent`s (the transformer through its KV cache, the LSTM through its
state) and `load_agent`, which picks the agent of a run's `ModelConfig.sequence_model`."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from jax.custom_batching import custom_vmap

from adjax.checkpoints import load_run
from adjax.evaluate.loop import Agent, AgentSpec
from adjax.model import ADLSTM, ADTransformer, Cache, ModelConfig, init_cache, init_carry


def model_spec(cfg: ModelConfig) -> AgentSpec:
    """The spaces a model was built for: int32[len(obs_dims)] observations (frames uint8[H, W, C]
    for the image encoder), num_actions actions; its episode_marker."""
    if cfg.obs_encoder == "image":
        return AgentSpec(cfg.obs_dims, "uint8", cfg.num_actions, cfg.context_len,
                         cfg.episode_marker)
    return AgentSpec((len(cfg.obs_dims),), "int32", cfg.num_actions, cfg.context_len,
                     cfg.episode_marker)


@functools.cache
def batched_extend(cfg: ModelConfig):
    """`ADTransformer(cfg).extend` on a Cache, with a vmap rule that folds the vmapped axis
    into the model's own batch axis (reshapes only). Plain `vmap` would turn the cache writes
    (dynamic_update_slice) into scatters that copy the whole cache every step: ~100x slower."""

    def impl(params, cache: Cache, obs_BxTxO, act_BxT, rew_BxT, valid_BxT):
        return ADTransformer(cfg).apply(params, obs_BxTxO, act_BxT, rew_BxT, cache=cache,
                                        valid=valid_BxT, method="extend")

    @custom_vmap
    def extend(params, cache, obs_BxTxO, act_BxT, rew_BxT, valid_BxT):
        return impl(params, cache, obs_BxTxO, act_BxT, rew_BxT, valid_BxT)

    @extend.def_vmap
    def rule(axis_size, in_batched, params, cache, *xs):
        p_b, c_b, *x_b = in_batched
        if any(jax.tree.leaves(p_b)) or c_b.length:  # per-instance weights or cache lengths
            axes = jax.tree.map(lambda b: 0 if b else None, tuple(in_batched))
            out = jax.vmap(impl, in_axes=axes)(params, cache, *xs)
            return out, jax.tree.map(lambda _: True, out)
        bcast = lambda x, b: x if b else jnp.broadcast_to(x, (axis_size, *x.shape))
        args = jax.tree.map(bcast, (cache.replace(length=None), *xs),
                            (c_b.replace(length=None), *x_b))
        folded = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), args)
        logits, new = extend(params, folded[0].replace(length=cache.length), *folded[1:])
        unfold = lambda x: x.reshape(axis_size, -1, *x.shape[1:])
        logits, rest = jax.tree.map(unfold, (logits, new.replace(length=None)))
        batched = jax.tree.map(lambda _: True, rest).replace(length=False)
        return (logits, rest.replace(length=new.length)), (True, batched)

    return extend


def _batch_axis(cache: Cache, fn) -> Cache:
    """Apply fn to every batched field (all but the scalar length). The agent's state drops the
    model's batch axis of 1: a vmapped scan then carries [pairs, ...] caches, which XLA updates in
    place, where [pairs, 1, ...] ones were copied three times per decoded step."""
    return jax.tree.map(fn, cache.replace(length=None)).replace(length=cache.length)


class TransformerAgent(Agent):
    """`ADTransformer` params acting through its KV cache: encode = one full `extend` into an empty
    cache, decode = a one-step `extend`. Batch size 1 inside; vmap at the call site."""

    params: Any
    cfg: ModelConfig = struct.field(pytree_node=False)

    @classmethod
    def create(cls, cfg: ModelConfig, params) -> TransformerAgent:
        # Only the config is static: two agents of one config (training seeds, AD and ED) share
        # every compiled evaluation.
        return cls(spec=model_spec(cfg), params=params, cfg=cfg)

    def encode(self, obs_KxO, prev_act_K, prev_rew_K, valid_K) -> Cache:
        cache = init_cache(self.cfg, 1)
        if valid_K.shape[0] != 0:
            _, cache = batched_extend(self.cfg)(self.params, cache, obs_KxO[None],
                                                prev_act_K[None], prev_rew_K[None], valid_K[None])
        return _batch_axis(cache, lambda x: x[0])

    def decode(self, cache: Cache, obs_O, prev_act, prev_rew) -> tuple[jax.Array, Cache]:
        logits_1x1xA, cache = batched_extend(self.cfg)(
            self.params, _batch_axis(cache, lambda x: x[None]), obs_O[None, None],
            jnp.reshape(prev_act, (1, 1)), jnp.reshape(prev_rew, (1, 1)), jnp.ones((1, 1), bool),
        )
        return logits_1x1xA[0, 0], _batch_axis(cache, lambda x: x[0])

    def full_logits(self, obs_TxO, prev_act_T, prev_rew_T) -> jax.Array:
        """Reference: one uncached causal pass over T <= c steps -> float32[T, A]."""
        return ADTransformer(self.cfg).apply(
            self.params, obs_TxO[None], prev_act_T[None], prev_rew_T[None]
        )[0]


class LSTMAgent(Agent):
    """`ADLSTM` params acting through the LSTM state: encode = the LSTM run from a zero state over
    the context (left padding leaves it unchanged), decode = one LSTM step. With the evaluation
    loop's block refresh, the state at every step summarises the last k <= c steps from a zero
    start, as a training window's does (`adjax.model.lstm`). Batch size 1 inside; vmap at the
    call site (the state is small: plain vmap batches it)."""

    params: Any
    cfg: ModelConfig = struct.field(pytree_node=False)

    @classmethod
    def create(cls, cfg: ModelConfig, params) -> LSTMAgent:
        return cls(spec=model_spec(cfg), params=params, cfg=cfg)

    def _extend(self, carry, obs_TxO, prev_act_T, prev_rew_T, valid_T):
        add = lambda x: x[None]
        logits_1xTxA, carry = ADLSTM(self.cfg).apply(
            self.params, add(obs_TxO), add(prev_act_T), add(prev_rew_T),
            jax.tree.map(add, carry), valid=add(valid_T), method="extend")
        return logits_1xTxA[0], jax.tree.map(lambda x: x[0], carry)

    def encode(self, obs_KxO, prev_act_K, prev_rew_K, valid_K):
        carry = jax.tree.map(lambda x: x[0], init_carry(self.cfg, 1))
        if valid_K.shape[0] == 0:
            return carry
        return self._extend(carry, obs_KxO, prev_act_K, prev_rew_K, valid_K)[1]

    def decode(self, carry, obs_O, prev_act, prev_rew) -> tuple[jax.Array, Any]:
        logits_1xA, carry = self._extend(carry, obs_O[None], jnp.reshape(prev_act, (1,)),
                                         jnp.reshape(prev_rew, (1,)), jnp.ones((1,), bool))
        return logits_1xA[0], carry

    def full_logits(self, obs_TxO, prev_act_T, prev_rew_T) -> jax.Array:
        """Reference: the training pass over T <= c steps from a zero state -> float32[T, A]."""
        return ADLSTM(self.cfg).apply(self.params, obs_TxO[None], prev_act_T[None],
                                      prev_rew_T[None])[0]


AGENTS = {"transformer": TransformerAgent, "lstm": LSTMAgent}


def make_agent(cfg: ModelConfig, params) -> Agent:
    """The evaluation agent of cfg.sequence_model with these parameters."""
    return AGENTS[cfg.sequence_model].create(cfg, params)


def load_agent(run_dir) -> Agent:
    """A trained AD or ED model (transformer or LSTM) from a run directory (config.json + latest
    orbax checkpoint)."""
    model_cfg, params, _ = load_run(run_dir)
    return make_agent(model_cfg, params)
