"""GPT-style causal transformer over step tokens, with an explicit KV cache (flax gemma style)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from adjax.model.config import ModelConfig
from adjax.model.dropout import Dropout
from adjax.model.tokens import EMBED_INIT, StepEmbed

# Masked attention scores: large but finite, so a fully masked row (a padding query) is a uniform
# softmax instead of NaN.
NEG_INF = -1e30


@struct.dataclass
class Cache:
    """Keys/values of every layer for S = context_len * tokens_per_step token slots.

    k, v: L-tuples (one per layer) of float32[B, H, K, S]. Slots last is the layout the attention
    dots read, and one array per layer is what a scan carries without copying: a one-token decode
    step then writes one column in place (a stacked [L, B, S, H, K] cache was transposed and copied
    whole at every step, ~30 MB per step at 100 pairs).
    valid_BxS: slot holds a real (non-padding) token; pos_B: int32[B] valid steps seen so far (the
    next step's position); length: int32[] slots used.
    """

    k: tuple
    v: tuple
    valid_BxS: jax.Array
    pos_B: jax.Array
    length: jax.Array


def init_cache(cfg: ModelConfig, batch: int) -> Cache:
    """An empty cache for `batch` sequences of up to cfg.context_len steps."""
    hd = cfg.d_model // cfg.num_heads
    shape = (batch, cfg.num_heads, hd, cfg.max_tokens)
    zeros = tuple(jnp.zeros(shape, jnp.float32) for _ in range(cfg.num_layers))
    return Cache(k=zeros, v=zeros,
                 valid_BxS=jnp.zeros((batch, cfg.max_tokens), bool),
                 pos_B=jnp.zeros((batch,), jnp.int32), length=jnp.zeros((), jnp.int32))


def attend(q_BxNxHxK, k, v, mask_BxNxS, dropout: nn.Module, train: bool, kv_layout="bshk",
           return_weights: bool = False):
    """Softmax attention; mask True = may attend. Returns [B, N, H, K] (and, with
    `return_weights`, the softmax weights [B, H, N, S] before attention dropout).

    k, v: [B, S, H, K] (kv_layout "bshk", a full pass) or [B, H, K, S] ("bhks", the cache's)."""
    scale = q_BxNxHxK.shape[-1] ** -0.5
    s_BxHxNxS = jnp.einsum(f"bnhk,{kv_layout}->bhns", q_BxNxHxK * scale, k)
    s_BxHxNxS = jnp.where(mask_BxNxS[:, None], s_BxHxNxS, NEG_INF)
    w_BxHxNxS = jax.nn.softmax(s_BxHxNxS, axis=-1)
    p_BxHxNxS = dropout(w_BxHxNxS, deterministic=not train)
    # [B, H, N, K] then a transpose: XLA:CPU runs it 2-4x faster than contracting straight
    # into [B, N, H, K] at an evaluation refresh's shapes (bench_attention, BENCHMARKS.md), with
    # the same bits there; at training shapes some CPUs round differently (~1e-7, AVX-512).
    out = jnp.einsum(f"bhns,{kv_layout}->bhnk", p_BxHxNxS, v).transpose(0, 2, 1, 3)
    return (out, w_BxHxNxS) if return_weights else out


class Attention(nn.Module):
    """Multi-head self-attention: (x, mask, kv cache, write slot) -> (out, kv cache)."""

    cfg: ModelConfig

    @nn.compact
    def __call__(self, x_BxNxD, mask_BxNxS, train: bool, kv=None, write_at=None):
        cfg = self.cfg
        hd = cfg.d_model // cfg.num_heads
        qkv_BxNx3xHxK = nn.DenseGeneral((3, cfg.num_heads, hd), name="qkv")(x_BxNxD)
        q, k, v = (qkv_BxNx3xHxK[:, :, i] for i in range(3))
        layout = "bshk"
        if kv is not None:  # the cache's [B, H, K, S]: write the N new slots at write_at
            put = lambda c, x: jax.lax.dynamic_update_slice_in_dim(
                c, x.transpose(0, 2, 3, 1), write_at, axis=3)
            k, v, layout = put(kv[0], k), put(kv[1], v), "bhks"
        o_BxNxHxK, w_BxHxNxS = attend(q, k, v, mask_BxNxS, Dropout(cfg.attn_dropout), train,
                                      layout, return_weights=True)
        # Recorded only when applied with mutable=["intermediates"] (`attention_weights`); else a
        # no-op, and the weights, computed anyway, feed nothing new: the output is unchanged.
        self.sow("intermediates", "attn_weights", w_BxHxNxS)
        out_BxNxD = nn.DenseGeneral(cfg.d_model, axis=(-2, -1), name="out")(o_BxNxHxK)
        return out_BxNxD, (k, v)


class Block(nn.Module):
    """Attention + feed-forward, post-norm (the paper's) or pre-norm, with residual dropout."""

    cfg: ModelConfig

    @nn.compact
    def __call__(self, x_BxNxD, mask_BxNxS, train: bool, kv=None, write_at=None):
        cfg = self.cfg
        drop = Dropout(cfg.dropout)
        act = {"relu": nn.relu, "gelu": nn.gelu}[cfg.activation]

        def ff(h):
            h = act(nn.Dense(cfg.ff_dim, name="ff_in")(h))
            return nn.Dense(cfg.d_model, name="ff_out")(h)

        ln1, ln2 = nn.LayerNorm(name="ln_attn"), nn.LayerNorm(name="ln_ff")
        attn = Attention(cfg, name="attn")
        if cfg.norm == "pre":
            a, kv = attn(ln1(x_BxNxD), mask_BxNxS, train, kv, write_at)
            x_BxNxD = x_BxNxD + drop(a, deterministic=not train)
            x_BxNxD = x_BxNxD + drop(ff(ln2(x_BxNxD)), deterministic=not train)
        else:
            a, kv = attn(x_BxNxD, mask_BxNxS, train, kv, write_at)
            x_BxNxD = ln1(x_BxNxD + drop(a, deterministic=not train))
            x_BxNxD = ln2(x_BxNxD + drop(ff(x_BxNxD), deterministic=not train))
        return x_BxNxD, kv


class ADTransformer(nn.Module):
    """Step inputs -> action logits at every step. `__call__` = full causal pass, `extend` = cached;
    `features` / `extend_features` = the same before the action head.

    Positions are learned, absolute and context-relative: token j of the p-th valid step in the
    context has position p * tokens_per_step + j. At most cfg.context_len steps fit in a context
    (the caller keeps `extend` within the cache; past the end, writes are clamped by XLA).
    """

    cfg: ModelConfig

    def setup(self):
        cfg = self.cfg
        self.embed = StepEmbed(cfg)
        self.pos_embed = self.param("pos_embed", EMBED_INIT, (cfg.max_tokens, cfg.d_model))
        self.emb_drop = Dropout(cfg.dropout)
        self.blocks = [Block(cfg, name=f"block_{i}") for i in range(cfg.num_layers)]
        self.final_norm = nn.LayerNorm() if cfg.norm == "pre" else None
        self.head = nn.Dense(cfg.num_actions)

    def _step_features(self, x_BxNxD):
        if self.final_norm is not None:
            x_BxNxD = self.final_norm(x_BxNxD)
        tps = self.cfg.tokens_per_step
        B, N, D = x_BxNxD.shape
        return x_BxNxD.reshape(B, N // tps, tps, D)[:, :, tps - 1]  # the o_t token of step t

    def __call__(self, obs_BxTxO, prev_act_BxT, prev_rew_BxT, train: bool = False):
        """Full causal pass over T <= context_len steps -> logits float32[B, T, A]."""
        return self.head(self.features(obs_BxTxO, prev_act_BxT, prev_rew_BxT, train))

    def extend(self, obs_BxTxO, prev_act_BxT, prev_rew_BxT, cache: Cache, valid=None,
               train: bool = False):
        """Append T steps after the cache's content -> (logits float32[B, T, A], cache).

        valid bool[B, T] (default all True): invalid (padding) steps take no position and are
        masked out of attention for all later tokens; their own logits are meaningless.
        """
        x_BxTxD, cache = self.extend_features(obs_BxTxO, prev_act_BxT, prev_rew_BxT, cache, valid,
                                              train)
        return self.head(x_BxTxD), cache

    def features(self, obs_BxTxO, prev_act_BxT, prev_rew_BxT, train: bool = False):
        """`__call__` before the action head: the o_t token's last hidden state float32[B, T, D]
        (other heads, e.g. RL²'s value, read it)."""
        x_BxNxD = self.perturb("tokens_BxNxD", self.embed(obs_BxTxO, prev_act_BxT, prev_rew_BxT,
                                                          train))
        N = x_BxNxD.shape[1]
        assert N <= self.cfg.max_tokens, f"{N} tokens > context of {self.cfg.max_tokens}"
        x_BxNxD = self.emb_drop(x_BxNxD + self.pos_embed[None, :N], deterministic=not train)
        mask_1xNxN = jnp.tril(jnp.ones((N, N), bool))[None]
        for block in self.blocks:
            x_BxNxD, _ = block(x_BxNxD, mask_1xNxN, train)
        return self._step_features(x_BxNxD)

    def extend_features(self, obs_BxTxO, prev_act_BxT, prev_rew_BxT, cache: Cache, valid=None,
                        train: bool = False):
        """`extend` before the action head -> (float32[B, T, D], cache)."""
        tps = self.cfg.tokens_per_step
        B, T = prev_act_BxT.shape
        valid_BxT = jnp.ones((B, T), bool) if valid is None else valid.astype(bool)
        v_int = valid_BxT.astype(jnp.int32)
        step_pos_BxT = cache.pos_B[:, None] + jnp.cumsum(v_int, axis=1) - v_int
        tok_pos_BxN = (step_pos_BxT[:, :, None] * tps + jnp.arange(tps)[None, None]).reshape(B, -1)
        valid_BxN = jnp.repeat(valid_BxT, tps, axis=1)
        N = T * tps
        x_BxNxD = self.embed(obs_BxTxO, prev_act_BxT, prev_rew_BxT, train)
        pos_BxNxD = jnp.take(self.pos_embed, tok_pos_BxN, axis=0, mode="clip")
        x_BxNxD = self.emb_drop(x_BxNxD + pos_BxNxD, deterministic=not train)
        slot_valid_BxS = jax.lax.dynamic_update_slice_in_dim(cache.valid_BxS, valid_BxN,
                                                             cache.length, axis=1)
        S = slot_valid_BxS.shape[1]
        q_slot_N = cache.length + jnp.arange(N)
        causal_1xNxS = (jnp.arange(S)[None, :] <= q_slot_N[:, None])[None]
        mask_BxNxS = slot_valid_BxS[:, None, :] & causal_1xNxS
        ks, vs = [], []
        for i, block in enumerate(self.blocks):
            x_BxNxD, (k, v) = block(x_BxNxD, mask_BxNxS, train, (cache.k[i], cache.v[i]),
                                    cache.length)
            ks.append(k)
            vs.append(v)
        new_cache = Cache(k=tuple(ks), v=tuple(vs), valid_BxS=slot_valid_BxS,
                          pos_B=cache.pos_B + v_int.sum(axis=1), length=cache.length + N)
        return self._step_features(x_BxNxD), new_cache


def attention_weights(cfg: ModelConfig, params, obs_BxTxO, prev_act_BxT, prev_rew_BxT):
    """One full causal pass (eval mode) that also returns every layer's attention weights ->
    (logits float32[B, T, A], weights float32[L, B, H, N, N]), N = T * tokens_per_step tokens:
    weights[l, b, h, i, j] is how much query token i attends to key token j in layer l, head h
    (softmax over j <= i; zero on future tokens). Token j belongs to step j // tokens_per_step."""
    logits, state = ADTransformer(cfg).apply(params, obs_BxTxO, prev_act_BxT, prev_rew_BxT,
                                             mutable=["intermediates"])
    inter = state["intermediates"]
    weights = [inter[f"block_{i}"]["attn"]["attn_weights"][0] for i in range(cfg.num_layers)]
    return logits, jnp.stack(weights)

