"""The sequence models AD can use, chosen by `ModelConfig.sequence_model`, and their parameters.

Every model maps step inputs (obs [B, T, O], prev_action [B, T], prev_reward [B, T], train) to
action logits float32[B, T, A] with `__call__` (a training window) and has `extend` from a
state (evaluation). A new kind is one module plus one entry here and in `SEQUENCE_MODELS`."""

import jax
import jax.numpy as jnp

from adjax.model.config import SEQUENCE_MODELS, ModelConfig
from adjax.model.lstm import ADLSTM
from adjax.model.transformer import ADTransformer

MODELS = {"transformer": ADTransformer, "lstm": ADLSTM}
assert tuple(MODELS) == SEQUENCE_MODELS


def make_model(cfg: ModelConfig):
    """The flax module of cfg.sequence_model."""
    return MODELS[cfg.sequence_model](cfg)


def init_params(cfg: ModelConfig, key: jax.Array):
    """Fresh variables for `make_model(cfg)`: {"params": ...}, and for the image encoder also
    {"batch_stats": ...} (BatchNorm's running averages: state, not trained by the optimiser)."""
    if cfg.obs_encoder == "image":
        obs = jnp.zeros((1, 1, *cfg.obs_dims), jnp.uint8)
    else:
        obs = jnp.zeros((1, 1, len(cfg.obs_dims)), jnp.int32)
    act = jnp.zeros((1, 1), jnp.int32)
    variables = make_model(cfg).init(key, obs, act, jnp.zeros((1, 1), jnp.float32))
    return {k: variables[k] for k in ("params", "batch_stats") if k in variables}


def num_weights(params) -> int:
    """Number of trained scalars in a variables tree ({"params": ...}: its "params" only) or in
    a parameter tree."""
    if isinstance(params, dict) and "params" in params:
        params = params["params"]
    return sum(int(x.size) for x in jax.tree.leaves(params))
