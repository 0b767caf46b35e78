"""The RL² LSTM actor-critic and its step inputs (o_t, a_{t-1}, r_{t-1}, episode-start flag)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from adjax.sources.common import obs_one_hot


class RL2Net(nn.Module):
    """One step: (carry, x float32[..., D]) -> (carry, logits float32[..., A], value float32[...]).

    carry: one (c, h) pair of float32[..., H] per LSTM layer (`zero_carry`). Layers are stacked
    `OptimizedLSTMCell`s; the top layer's h feeds a policy and a value head.
    """

    num_actions: int
    hidden: tuple[int, ...]

    @nn.compact
    def __call__(self, carry, x):
        new = []
        for i, h in enumerate(self.hidden):
            c, x = nn.OptimizedLSTMCell(h, name=f"lstm{i}")(carry[i], x)
            new.append(c)
        logits = nn.Dense(self.num_actions, kernel_init=nn.initializers.orthogonal(0.01),
                          name="policy")(x)
        value = nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0), name="value")(x)[..., 0]
        return tuple(new), logits, value


def zero_carry(hidden: tuple[int, ...], batch: tuple[int, ...] = ()):
    """The LSTM state of a fresh trial: zeros, one (c, h) pair per layer."""
    return tuple((jnp.zeros((*batch, h), jnp.float32), jnp.zeros((*batch, h), jnp.float32))
                 for h in hidden)


def input_dim(dims: tuple[int, ...], num_actions: int) -> int:
    """Width of a step input: one-hot obs components, one-hot a_{t-1} (with "none"), r, flag."""
    return sum(dims) + num_actions + 1 + 2


def step_input(obs_O, prev_action, prev_reward, episode_start, dims, num_actions):
    """One step's network input float32[D]: one-hot per obs component, one-hot previous action
    (index num_actions = "none", the first step of a trial), previous reward, 1.0 on the first
    step of an episode. Unbatched; vmap for batches."""
    return jnp.concatenate([
        obs_one_hot(obs_O, dims),
        jax.nn.one_hot(prev_action, num_actions + 1),
        jnp.asarray(prev_reward, jnp.float32)[None],
        jnp.asarray(episode_start, jnp.float32)[None],
    ])


def reset_where(carry, reset):
    """carry with zeros where `reset` (bool[...] over the carry's batch axes) is True."""
    return jax.tree.map(lambda z: jnp.where(jnp.expand_dims(reset, -1), 0.0, z), carry)


def replay(net: RL2Net, params, carry, x_TxD, reset_T):
    """Run the network over a sequence, zeroing the state before every step flagged in reset_T
    (the first step of a trial) -> (final carry, logits [T, ..., A], values [T, ...]).

    The one way the network steps through time: training rollouts, the loss and evaluation all
    call `step`, which this scans."""

    def body(c, inp):
        x, r = inp
        c, logits, value = step(net, params, c, x, r)
        return c, (logits, value)

    carry, (logits, values) = jax.lax.scan(body, carry, (x_TxD, reset_T))
    return carry, logits, values


def step(net: RL2Net, params, carry, x, reset):
    """One step: reset the state where `reset`, then apply the network."""
    return net.apply(params, reset_where(carry, reset), x)


class LSTMCore:
    """The trainer's view of the LSTM network (`adjax.rl2.transformer.TransformerCore` is the
    transformer's): params, the per-trial state (`carry`), one step of N trials, the loss's replay.

    act(params, carry, obs [N, O], prev_a [N], prev_r [N], t, start) -> (carry, logits [N, A],
    value [N], record): the state is zeroed where `start` (the trial's first step); `record` (the
    step's input vectors) is what `replay` reads back. replay(params, carry0, carry1, records
    [U, N, ...], reset [U, N], t0) -> (logits [U, N, A], values [U, N]) of the unroll, from the
    state it started with (truncated BPTT over the unroll)."""

    def __init__(self, cfg, env, dims):
        self.hidden, self.dims, self.L, self.A = cfg.hidden, dims, env.episode_len, env.num_actions
        self.net = RL2Net(env.num_actions, cfg.hidden)

    def init(self, key):
        return self.net.init(key, zero_carry(self.hidden),
                             jnp.zeros((input_dim(self.dims, self.A),)))

    def zero_carry(self, n: int):
        return zero_carry(self.hidden, (n,))

    def act(self, params, carry, obs_NxO, prev_a, prev_r, t, start):
        x = jax.vmap(step_input, in_axes=(0, 0, 0, None, None, None))(
            obs_NxO, prev_a, prev_r, t % self.L == 0, self.dims, self.A)
        reset = jnp.broadcast_to(start, prev_a.shape)
        carry, logits, value = step(self.net, params, carry, x, reset)
        return carry, logits, value, x

    def replay(self, params, carry0, carry1, x_UxNxD, reset_UxN, t0):
        _, logits, values = replay(self.net, params, carry0, x_UxNxD, reset_UxN)
        return logits, values
