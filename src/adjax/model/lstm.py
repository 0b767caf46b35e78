"""LSTM-AD (the paper's appendix): AD's sequence model as an LSTM instead of a causal transformer.

The paper's LSTM reads the concatenated embeddings of (o_i, a_i, r_i) up to i = t - 1; its output
is concatenated with the embedding of o_t and fed to an MLP policy head (LSTM 512, MLP 2 x 256).
Here the LSTM reads AD's own step inputs, step t = (o_t, a_{t-1}, r_{t-1}) embedded by the same
encoders as the transformer's (`adjax.model.tokens.StepEmbed`, token masking included), and the
three component embeddings are summed (a sum of learned embeddings followed by the LSTM's input
kernel is the same family of functions as their concatenation followed by it). Its output h_t is
concatenated with o_t's embedding and fed to the MLP head -> logits of a_t. The information a_t is
predicted from is the paper's (everything up to o_t); only o_t also enters the LSTM, because the
step token carries it.

State lifetime. Training: the state starts from zeros at the first step of every training window
(c steps), as a transformer's context starts there. Evaluation (`adjax.evaluate.agents.LSTMAgent`)
follows the same rule as the transformer's block refresh: every b steps the last c - b step inputs
are re-run from a zero state (`encode`), then b steps are decoded one LSTM step at a time, so the
state at every evaluation step summarises at most c steps from a zero start, as in training (an
LSTM carried over the whole history would run from a state and over lengths it was never trained
on). `extend` from a carry is the one way the network moves through time: the training pass
(`__call__`, from zeros), evaluation's encode (left padding leaves the state unchanged) and decode
(one step) all call it, so their logits agree (tested against the full pass).
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from adjax.model.config import ModelConfig
from adjax.model.dropout import Dropout
from adjax.model.tokens import StepEmbed

# (c, h) float32[B, H] per layer.
Carry = tuple


def init_carry(cfg: ModelConfig, batch: int) -> Carry:
    """The state a window starts from: zeros, one (c, h) pair of float32[batch, lstm_hidden] per
    layer."""
    z = jnp.zeros((batch, cfg.lstm_hidden), jnp.float32)
    return tuple((z, z) for _ in range(cfg.lstm_layers))


def _gate_orthogonal(key, shape, dtype=jnp.float32):
    """[H, 4H]: an orthogonal [H, H] block per gate (flax's LSTMCell recurrent init, packed)."""
    H = shape[0]
    blocks = [nn.initializers.orthogonal()(k, (H, H), dtype) for k in jax.random.split(key, 4)]
    return jnp.concatenate(blocks, axis=-1)


def _gate_bias(key, shape, dtype=jnp.float32):
    """[4H], gates (i, f, g, o): forget-gate bias 1, the others 0 (a state kept by default)."""
    H = shape[0] // 4
    return jnp.zeros(shape, dtype).at[H:2 * H].set(1.0)


class LSTMLayer(nn.Module):
    """One LSTM layer over a sequence, gates (i, f, g, o) packed in one kernel each for the input
    and the state: z = x W_in + h W_rec + b; c' = s(f) c + s(i) tanh(g); h' = s(o) tanh(c').
    The input products of all T steps are one matmul; only h W_rec is sequential.
    A step where valid is False leaves the state as it was (its output is meaningless)."""

    hidden: int

    @nn.compact
    def __call__(self, x_BxTxD, carry, valid_BxT):
        H, D = self.hidden, x_BxTxD.shape[-1]
        w_in = self.param("in_kernel", nn.initializers.lecun_normal(), (D, 4 * H))
        w_rec = self.param("rec_kernel", _gate_orthogonal, (H, 4 * H))
        bias = self.param("bias", _gate_bias, (4 * H,))
        z_TxBx4H = jnp.einsum("btd,dg->tbg", x_BxTxD, w_in) + bias[None, None]

        def step(ch, inp):
            c, h = ch
            z_Bx4H, v_B = inp
            i, f, g, o = jnp.split(z_Bx4H + h @ w_rec, 4, axis=-1)
            c2 = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h2 = jax.nn.sigmoid(o) * jnp.tanh(c2)
            v = v_B[:, None]
            c2, h2 = jnp.where(v, c2, c), jnp.where(v, h2, h)
            return (c2, h2), h2

        carry, h_TxBxH = jax.lax.scan(step, carry, (z_TxBx4H, valid_BxT.T))
        return h_TxBxH.swapaxes(0, 1), carry


def _components_cfg(cfg: ModelConfig) -> ModelConfig:
    """The config under which `StepEmbed` returns the three components of each step unsummed
    (layout "three"): [B, T * 3, D], reshaped to [B, T, 3, D]; same parameters either way."""
    return dataclasses.replace(cfg, sequence_model="transformer", layout="three")


class ADLSTM(nn.Module):
    """Step inputs -> action logits at every step. `__call__` = from a zero state (a training
    window), `extend` = from a given state (evaluation), the same computation."""

    cfg: ModelConfig

    def setup(self):
        cfg = self.cfg
        self.embed = StepEmbed(_components_cfg(cfg))
        self.emb_drop = Dropout(cfg.dropout)
        self.layers = [LSTMLayer(cfg.lstm_hidden, name=f"lstm_{i}")
                       for i in range(cfg.lstm_layers)]
        self.out_drop = Dropout(cfg.dropout)
        self.mlp = [nn.Dense(w, name=f"mlp_{i}") for i, w in enumerate(cfg.lstm_head)]
        self.head = nn.Dense(cfg.num_actions)

    def __call__(self, obs_BxTxO, prev_act_BxT, prev_rew_BxT, train: bool = False):
        """A window of T steps from a zero state -> logits float32[B, T, A]."""
        carry = init_carry(self.cfg, prev_act_BxT.shape[0])
        return self.extend(obs_BxTxO, prev_act_BxT, prev_rew_BxT, carry, train=train)[0]

    def extend(self, obs_BxTxO, prev_act_BxT, prev_rew_BxT, carry: Carry, valid=None,
               train: bool = False):
        """T more steps from `carry` -> (logits float32[B, T, A], carry after them).

        valid bool[B, T] (default all True): invalid (padding) steps leave the state unchanged;
        their own logits are meaningless."""
        cfg = self.cfg
        B, T = prev_act_BxT.shape
        valid_BxT = jnp.ones((B, T), bool) if valid is None else valid.astype(bool)
        parts_BxTx3xD = self.embed(obs_BxTxO, prev_act_BxT, prev_rew_BxT, train).reshape(
            B, T, 3, cfg.d_model)
        parts_BxTx3xD = self.perturb("components_BxTx3xD", parts_BxTx3xD)
        x_BxTxD = self.emb_drop(parts_BxTx3xD.sum(axis=2), deterministic=not train)
        new = []
        for layer, ch in zip(self.layers, carry, strict=True):
            x_BxTxD, ch = layer(x_BxTxD, ch, valid_BxT)
            new.append(ch)
        h_BxTxH = self.out_drop(x_BxTxD, deterministic=not train)
        # [LSTM output, o_t's embedding]: components are [prev_a, prev_r, o]
        y = jnp.concatenate([h_BxTxH, parts_BxTx3xD[:, :, 2]], axis=-1)
        act = {"relu": nn.relu, "gelu": nn.gelu}[cfg.activation]
        for dense in self.mlp:
            y = act(dense(y))
        return self.head(y), tuple(new)

