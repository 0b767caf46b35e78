"""Shared pieces of the source learners: the History pytree and discrete-observation helpers."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct


@struct.dataclass
class History:
    """A learning history of one task; S streams (actors/learners) of T steps.

    obs int32[S, T, obs_dim] (o_t, the observation a_t was chosen on), actions int32[S, T],
    rewards float32[S, T] (r_t, the reward that followed a_t). Episode e of a stream is the steps
    [e * episode_len, (e + 1) * episode_len).
    """

    obs: jax.Array
    actions: jax.Array
    rewards: jax.Array


def obs_dims(env) -> tuple[int, ...]:
    """Cardinality per observation component of a discrete Box observation space (python ints)."""
    space = env.observation_space(env.default_params)
    low = np.broadcast_to(np.asarray(space.low), space.shape)
    high = np.broadcast_to(np.asarray(space.high), space.shape)
    if np.any(low != 0):
        raise ValueError(f"tabular/one-hot sources need observations in [0, high]; got low={low}")
    return tuple(int(h) + 1 for h in high.reshape(-1))


def obs_index(obs_O: jax.Array, dims: tuple[int, ...]) -> jax.Array:
    """Flatten one observation int[O] into a single state index (row-major over `dims`)."""
    assert obs_O.ndim == 1, obs_O.shape
    strides = np.cumprod((1,) + dims[:0:-1])[::-1].astype(np.int32)
    return jnp.sum(obs_O.astype(jnp.int32) * jnp.asarray(strides))


def obs_one_hot(obs_O: jax.Array, dims: tuple[int, ...]) -> jax.Array:
    """One-hot per observation component, concatenated: int[O] -> float32[sum(dims)]."""
    assert obs_O.ndim == 1, obs_O.shape
    return jnp.concatenate([jax.nn.one_hot(obs_O[i], d) for i, d in enumerate(dims)])


def stack_episodes(hist_EL: History) -> History:
    """[E, L, S, ...] scan output -> History [S, E * L, ...]."""

    def f(x):
        x = jnp.moveaxis(x, 2, 0)
        return x.reshape(x.shape[0], -1, *x.shape[3:])

    return jax.tree.map(f, hist_EL)
