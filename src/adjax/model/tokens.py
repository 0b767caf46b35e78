"""Step inputs and their embedding: the one place transitions become model tokens.

Step t of a context holds (o_t, a_{t-1}, r_{t-1}); a_{-1} is the extra "none" index `num_actions`
and r_{-1} = 0 (with `ModelConfig.episode_marker`, at every episode's first step:
`mark_episode_starts`). Each step has three input components [prev_action, prev_reward, obs],
embedded as E_act[prev_a], W_rew * prev_r, enc(o). Layout "one" sums them into one token per
step; layout "three" keeps them as three tokens [prev_a, prev_r, o] per step (logits are read at
the o token).

Random input-token masking (training only, rate p = `token_mask_prob`): every component of every
step (obs embedding, prev-action embedding, prev-reward embedding) is independently, with
probability p, replaced by a learned mask vector of its own (one per component kind), before the
components are summed ("one") or interleaved ("three") and before positions are added. Evaluation
(train=False) never masks. p is realised to 2^-16 (`adjax.model.dropout`). The mask drawn is
sown as `intermediates/.../token_mask_BxTx3`.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct, traverse_util

from adjax.model.config import ModelConfig
from adjax.model.dropout import bernoulli_mask

EMBED_INIT = nn.initializers.normal(stddev=0.02)
STATE_PRED = "state_pred"  # the name `ImageObsEncoder` sows its state read-out [N, F] under


@struct.dataclass
class StepInputs:
    """obs int32[..., T, O], prev_action int32[..., T], prev_reward float32[..., T]."""

    obs: jax.Array
    prev_action: jax.Array
    prev_reward: jax.Array


def step_inputs(obs_TxO, actions_T, rewards_T, first_prev_action, first_prev_reward) -> StepInputs:
    """Transitions (o_t, a_t, r_t) of ONE sequence -> model inputs (o_t, a_{t-1}, r_{t-1}).

    first_prev_action / first_prev_reward: a_{-1}, r_{-1} (scalars): `num_actions` and 0 at the
    start of a history, else the transition just before the window. vmap for batches.
    """
    assert obs_TxO.ndim in (2, 4), f"obs must be [T, O] or frames [T, H, W, C], got {obs_TxO.shape}"
    assert actions_T.ndim == 1 and rewards_T.ndim == 1, (actions_T.shape, rewards_T.shape)
    first_a = jnp.asarray(first_prev_action, jnp.int32).reshape(1)
    first_r = jnp.asarray(first_prev_reward, jnp.float32).reshape(1)
    prev_a = jnp.concatenate([first_a, actions_T[:-1].astype(jnp.int32)])
    prev_r = jnp.concatenate([first_r, rewards_T[:-1].astype(jnp.float32)])
    # Discrete components become int32 indices; frames stay uint8 (4x less memory per window).
    obs = obs_TxO.astype(jnp.int32) if obs_TxO.ndim == 2 else obs_TxO
    return StepInputs(obs=obs, prev_action=prev_a, prev_reward=prev_r)


def mark_episode_starts(inputs: StepInputs, t, episode_len: int, num_actions: int) -> StepInputs:
    """Step inputs whose steps at history index t (int[..., T], broadcast against the inputs) are
    episode starts (t % episode_len == 0) -> those steps' previous action "none"
    (`num_actions`) and previous reward 0: `ModelConfig.episode_marker`'s convention."""
    first = jnp.asarray(t) % episode_len == 0
    return inputs.replace(prev_action=jnp.where(first, num_actions, inputs.prev_action),
                          prev_reward=jnp.where(first, 0.0, inputs.prev_reward))


class DiscreteObsEncoder(nn.Module):
    """int obs [..., O], component cardinalities obs_dims -> one mixed-radix index -> [..., D]."""

    obs_dims: tuple[int, ...]
    d_model: int

    @nn.compact
    def __call__(self, obs_xO):
        strides = np.cumprod((1,) + self.obs_dims[:0:-1])[::-1]
        obs_xO = obs_xO.astype(jnp.int32)
        idx = sum(obs_xO[..., i] * int(s) for i, s in enumerate(strides))
        return nn.Embed(int(np.prod(self.obs_dims)), self.d_model, embedding_init=EMBED_INIT)(idx)


class FactoredObsEncoder(nn.Module):
    """int obs [..., O] -> sum over components i of E_i[obs_i] -> [..., D]: one table per
    component (Dark Room: one for x, one for y), the same as a linear map of the concatenated
    one-hots. A cell's embedding is composed from its coordinates, so a cell never rewarded in
    training (a held-out goal) still has a representation its coordinates give meaning to."""

    obs_dims: tuple[int, ...]
    d_model: int

    @nn.compact
    def __call__(self, obs_xO):
        obs_xO = obs_xO.astype(jnp.int32)
        return sum(nn.Embed(int(n), self.d_model, embedding_init=EMBED_INIT, name=f"dim{i}")(
            obs_xO[..., i]) for i, n in enumerate(self.obs_dims))


class ImageObsEncoder(nn.Module):
    """Frames uint8[N, H, W, C] -> [N, D]: the paper's Watermaze encoder. Per width in
    cfg.image_channels: conv (kernel image_kernel, stride 2), BatchNorm, ReLU, max-pool 2,
    dropout image_dropout; then flatten, dense image_dense with ReLU, dense d_model (the token
    embedding). With cfg.state_head, a linear read-out of each embedding is sown as
    intermediates/.../state_pred (`sown_state_pred`) for the auxiliary training loss
    (`TrainConfig.state_loss`). BatchNorm normalises over every frame of the training batch
    (all windows, all steps) and keeps running averages in the "batch_stats" collection, which
    evaluation (train=False) uses: a frame's embedding then does not depend on its neighbours,
    so the KV-cached decoding equals the window pass."""

    cfg: ModelConfig

    @nn.compact
    def __call__(self, frames_NxHxWxC, train: bool):
        cfg = self.cfg
        x = frames_NxHxWxC.astype(jnp.float32) / 255.0
        for i, width in enumerate(cfg.image_channels):
            x = nn.Conv(width, (cfg.image_kernel,) * 2, strides=2, padding="SAME",
                        name=f"conv{i}")(x)
            x = nn.BatchNorm(use_running_average=not train, momentum=0.9, name=f"bn{i}")(x)
            x = nn.max_pool(nn.relu(x), (2, 2), strides=(2, 2), padding="SAME")
            x = nn.Dropout(cfg.image_dropout, deterministic=not train)(x)
        x = nn.relu(nn.Dense(cfg.image_dense, name="dense")(x.reshape(x.shape[0], -1)))
        e = nn.Dense(cfg.d_model, kernel_init=EMBED_INIT, name="embed")(x)
        if cfg.state_head:  # the auxiliary read-out: sown for the training loss, else unused
            self.sow("intermediates", STATE_PRED, nn.Dense(cfg.state_head, name="state_head")(e))
        return e


def sown_state_pred(intermediates: dict) -> jax.Array:
    """The state read-out an apply with mutable "intermediates" sowed (`ModelConfig.state_head`):
    float32[N, F] over the frames of the batch, B * T of them in window order."""
    found = [v for path, v in traverse_util.flatten_dict(intermediates).items()
             if path[-1] == STATE_PRED]
    if len(found) != 1:
        raise ValueError(f"expected one sown {STATE_PRED!r}, found {len(found)} (state_head 0?)")
    return found[0][0]


OBS_ENCODERS = {"discrete": DiscreteObsEncoder, "factored": FactoredObsEncoder,
                "image": ImageObsEncoder}


class StepEmbed(nn.Module):
    """Step inputs -> tokens x_BxNxD, N = T * tokens_per_step (components summed or interleaved)."""

    cfg: ModelConfig

    @nn.compact
    def __call__(self, obs_BxTxO, prev_act_BxT, prev_rew_BxT, train: bool):
        cfg = self.cfg
        B, T = prev_act_BxT.shape
        assert obs_BxTxO.shape[:2] == (B, T), (obs_BxTxO.shape, prev_act_BxT.shape)
        e_act = nn.Embed(cfg.num_actions + 1, cfg.d_model, embedding_init=EMBED_INIT,
                         name="act_embed")(prev_act_BxT.astype(jnp.int32))
        e_rew = nn.Dense(cfg.d_model, kernel_init=EMBED_INIT,
                         name="rew_embed")(prev_rew_BxT.astype(jnp.float32)[..., None])
        if cfg.obs_encoder == "image":
            if obs_BxTxO.shape[2:] != cfg.obs_dims:
                raise ValueError(f"the image encoder takes frames [B, T, *{cfg.obs_dims}]; got "
                                 f"{obs_BxTxO.dtype}{list(obs_BxTxO.shape)}")
            frames = obs_BxTxO.reshape(B * T, *cfg.obs_dims)
            e_obs = ImageObsEncoder(cfg, name="obs_embed")(frames, train).reshape(B, T, -1)
        elif obs_BxTxO.ndim != 3:  # frames, e.g. a Watermaze dataset's rendered windows
            raise ValueError(f"obs encoder {cfg.obs_encoder!r} takes discrete observations "
                             f"[B, T, O]; got {obs_BxTxO.dtype}{list(obs_BxTxO.shape)} (image "
                             "observations need an image encoder)")
        else:
            encoder = OBS_ENCODERS[cfg.obs_encoder](cfg.obs_dims, cfg.d_model, name="obs_embed")
            e_obs = encoder(obs_BxTxO)
        x_BxTx3xD = jnp.stack([e_act, e_rew, e_obs], axis=2)
        mask_vec_3xD = self.param("mask_embed", EMBED_INIT, (3, cfg.d_model))
        if train and cfg.token_mask_prob > 0:
            masked_BxTx3 = bernoulli_mask(self.make_rng("dropout"), cfg.token_mask_prob, (B, T, 3))
            self.sow("intermediates", "token_mask_BxTx3", masked_BxTx3)
            x_BxTx3xD = jnp.where(masked_BxTx3[..., None], mask_vec_3xD[None, None], x_BxTx3xD)
        if cfg.layout == "one":
            return x_BxTx3xD.sum(axis=2)
        return x_BxTx3xD.reshape(B, T * 3, cfg.d_model)
