"""RL²-Transformer (the paper's Fig. 3 bandit bar): AD's causal transformer (`adjax.model`, its KV
cache) as RL²'s network over the trial so far, with a value head beside its action head.

Acting: the N trials run in lock-step, so one `extend` of batch N appends step t of every trial
to a KV cache of one trial's length T (`Config.trial_len`); at a trial's first step the cache is
emptied (slots marked invalid, positions back to 0): the context is exactly the trial so far, as
the LSTM's state is. Positions are the steps of the trial, so they also tell the step within the
episode (the LSTM's episode-start flag is not an input here).

Loss (no truncation): the trial's step inputs so far are kept beside the cache; after an unroll of
U steps [t0, t0 + U), one causal pass over the whole trial buffer with the current parameters
gives the unroll's logits and values, each attending to every earlier step of its trial (the
transformer's counterpart of back-propagating through the whole trial; the cache, made with the
acting parameters, only serves acting). Steps after t0 + U in the buffer are stale or zeros and,
being later, are masked out. This needs trials to start at unroll starts: `unroll` must divide T.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from adjax.model import ADTransformer, Cache, ModelConfig, init_cache


def model_config(cfg, env, dims) -> ModelConfig:
    """The transformer of an rl2.Config: one token per step, context = one trial, pre-norm, no
    dropout or token masking (RL² acts on-policy with the same network it trains)."""
    return ModelConfig(obs_dims=dims, num_actions=env.num_actions,
                       context_len=cfg.trial_len(env.episode_len), layout="one",
                       d_model=cfg.tf_width, num_layers=cfg.tf_layers, num_heads=cfg.tf_heads,
                       ff_dim=4 * cfg.tf_width, norm="pre", dropout=0.0, attn_dropout=0.0,
                       token_mask_prob=0.0)


class RL2TransformerNet(nn.Module):
    """`ADTransformer` ("trunk": its action head gives the policy) and a value head on the same
    features. Its params["params"]["trunk"] are an `ADTransformer`'s: AD's evaluation agent acts
    with them (`adjax.rl2.evaluate`)."""

    cfg: ModelConfig

    def setup(self):
        self.trunk = ADTransformer(self.cfg)
        self.value = nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0))

    def __call__(self, obs_BxTxO, prev_act_BxT, prev_rew_BxT):
        """Full causal pass -> (logits float32[B, T, A], values float32[B, T])."""
        x = self.trunk.features(obs_BxTxO, prev_act_BxT, prev_rew_BxT)
        return self.trunk.head(x), self.value(x)[..., 0]

    def extend(self, obs_BxTxO, prev_act_BxT, prev_rew_BxT, cache: Cache):
        """Cached pass of T more steps -> (logits [B, T, A], values [B, T], cache)."""
        x, cache = self.trunk.extend_features(obs_BxTxO, prev_act_BxT, prev_rew_BxT, cache)
        return self.trunk.head(x), self.value(x)[..., 0], cache


@struct.dataclass
class TrialContext:
    """Per-trial state of RL²-Transformer: the KV cache (acting) and the step inputs of the trial
    so far (the loss's context), [N, T, ...]."""

    cache: Cache
    obs: jax.Array  # int32[N, T, O]
    prev_action: jax.Array  # int32[N, T]
    prev_reward: jax.Array  # float32[N, T]


class TransformerCore:
    """The trainer's view of RL²-Transformer; the same interface as `adjax.rl2.network.LSTMCore`
    (records are None: the loss reads the trial buffer of the context after the unroll)."""

    def __init__(self, cfg, env, dims):
        T = cfg.trial_len(env.episode_len)
        if T % cfg.unroll:
            raise ValueError(
                f"rl2.Config.unroll={cfg.unroll} must divide the trial length {T} "
                f"(episodes_per_trial {cfg.episodes_per_trial} x episode length "
                f"{env.episode_len}) for network 'transformer'")
        self.model_cfg = model_config(cfg, env, dims)
        self.net = RL2TransformerNet(self.model_cfg)

    def init(self, key):
        n_obs = len(self.model_cfg.obs_dims)
        return self.net.init(key, jnp.zeros((1, 1, n_obs), jnp.int32),
                             jnp.zeros((1, 1), jnp.int32),
                             jnp.zeros((1, 1), jnp.float32))

    def zero_carry(self, n: int) -> TrialContext:
        mc = self.model_cfg
        T, n_obs = mc.context_len, len(mc.obs_dims)
        return TrialContext(init_cache(mc, n), jnp.zeros((n, T, n_obs), jnp.int32),
                            jnp.zeros((n, T), jnp.int32), jnp.zeros((n, T), jnp.float32))

    def act(self, params, ctx: TrialContext, obs_NxO, prev_a, prev_r, t, start):
        c = ctx.cache  # emptied at a trial's start: old slots invalid, positions from 0
        cache = c.replace(valid_BxS=c.valid_BxS & ~start, pos_B=jnp.where(start, 0, c.pos_B),
                          length=jnp.where(start, 0, c.length))
        obs_NxO = obs_NxO.astype(jnp.int32)
        logits, value, cache = self.net.apply(params, obs_NxO[:, None], prev_a[:, None],
                                              prev_r[:, None], cache, method="extend")
        put = lambda buf, x: jax.lax.dynamic_update_slice_in_dim(buf, x[:, None], t, axis=1)
        ctx = TrialContext(cache, put(ctx.obs, obs_NxO), put(ctx.prev_action, prev_a),
                           put(ctx.prev_reward, prev_r))
        return ctx, logits[:, 0], value[:, 0], None

    def replay(self, params, ctx0, ctx1: TrialContext, records, reset_UxN, t0):
        logits, values = self.net.apply(params, ctx1.obs, ctx1.prev_action, ctx1.prev_reward)
        U = reset_UxN.shape[0]
        unroll = lambda x: jax.lax.dynamic_slice_in_dim(x, t0, U, axis=1).swapaxes(0, 1)
        return unroll(logits), unroll(values)
