"""The AD/ED transformer as an evaluation `Agent` (KV-cache encode/decode) and `load_agent`."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from adjax.evaluate.loop import Agent, AgentSpec
from adjax.model import ADTransformer, Cache, ModelConfig, init_cache


def model_spec(cfg: ModelConfig) -> AgentSpec:
    """The spaces a model was built for: int32[len(obs_dims)] observations, num_actions actions."""
    return AgentSpec((len(cfg.obs_dims),), "int32", cfg.num_actions, cfg.context_len)


class TransformerAgent(Agent):
    """`ADTransformer` params acting through its KV cache: encode = one full `extend` into an empty
    cache, decode = a one-step `extend`. Batch size 1 inside; vmap at the call site."""

    params: Any
    cfg: ModelConfig = struct.field(pytree_node=False)
    info: dict | None = struct.field(pytree_node=False, default=None, compare=False, hash=False)

    @classmethod
    def create(cls, cfg: ModelConfig, params, info: dict | None = None) -> TransformerAgent:
        return cls(spec=model_spec(cfg), params=params, cfg=cfg, info=info)

    def encode(self, obs_KxO, prev_act_K, prev_rew_K, valid_K) -> Cache:
        cache = init_cache(self.cfg, 1)
        if valid_K.shape[0] == 0:
            return cache
        _, cache = ADTransformer(self.cfg).apply(
            self.params, obs_KxO[None], prev_act_K[None], prev_rew_K[None], cache=cache,
            valid=valid_K[None], method="extend",
        )
        return cache

    def decode(self, cache: Cache, obs_O, prev_act, prev_rew) -> tuple[jax.Array, Cache]:
        logits_1x1xA, cache = ADTransformer(self.cfg).apply(
            self.params, obs_O[None, None], jnp.reshape(prev_act, (1, 1)),
            jnp.reshape(prev_rew, (1, 1)), cache=cache, method="extend",
        )
        return logits_1x1xA[0, 0], cache

    def full_logits(self, obs_TxO, prev_act_T, prev_rew_T) -> jax.Array:
        """Reference: one uncached causal pass over T <= c steps -> float32[T, A]."""
        return ADTransformer(self.cfg).apply(
            self.params, obs_TxO[None], prev_act_T[None], prev_rew_T[None]
        )[0]


def load_agent(run_dir) -> TransformerAgent:
    """A trained AD or ED model from a run directory (config.json + latest orbax checkpoint)."""
    from adjax.train import load_run

    model_cfg, params, config = load_run(run_dir)
    return TransformerAgent.create(model_cfg, params, info={"run_dir": str(run_dir), **config})
