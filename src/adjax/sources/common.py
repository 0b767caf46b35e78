"""Shared pieces of the source learners: the History pytree, discrete-observation helpers and the
observer (what a learner records per step and what its network reads)."""

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from adjax.envs import stores_state


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


@dataclass(frozen=True)
class Observer:
    """What a network-based source records for each step and what its network reads.

    `record(obs, env_state)` (unbatched) is the step's History.obs: the env's observation, or
    for envs whose datasets store renderer state (Watermaze) `env.stored_obs(state)`, so that
    the frames are never rendered for the source (XLA drops the unused render) and the history
    can be stored as it is. `features(recorded)` is the network's float32[dim] input.
    """

    dim: int
    record: Callable[[jax.Array, struct.PyTreeNode], jax.Array]
    features: Callable[[jax.Array], jax.Array]


def observer(env) -> Observer:
    """One-hot per component for discrete observations; the env's `source_features` of its
    stored state (Watermaze: x, y, cos and sin of the heading) where datasets store state."""
    if stores_state(env):
        if not hasattr(env, "source_features"):
            raise ValueError(f"{env.name}: stores renderer state but defines no source_features "
                             "for a state-based source")
        dim = int(env.source_features(jnp.zeros(len(env.stored_obs_fields))).shape[-1])
        return Observer(dim, lambda obs, state: env.stored_obs(state), env.source_features)
    dims = obs_dims(env)
    return Observer(sum(dims), lambda obs, state: obs, lambda o: obs_one_hot(o, dims))


@dataclass(frozen=True)
class TabularView:
    """What a tabular source records for each step and which row of its table a step is.

    `record(obs, env_state)` (unbatched) is the step's History.obs, as `Observer.record`: the
    observation, or the stored renderer state where datasets store state (Watermaze), so frames
    are never rendered for the source. `cell(recorded)` is the step's row, in
    [0, num_cells): the mixed-radix index of a discrete observation, or the env's
    `source_cell` of its stored state (Watermaze: position and heading in bins).
    """

    num_cells: int
    record: Callable[[jax.Array, struct.PyTreeNode], jax.Array]
    cell: Callable[[jax.Array], jax.Array]


def tabular_view(env) -> TabularView:
    """The `TabularView` of an env: discrete observations as they are; envs whose datasets
    store renderer state through their `source_cell` / `num_source_cells` discretisation."""
    if stores_state(env):
        if not (hasattr(env, "source_cell") and hasattr(env, "num_source_cells")):
            raise ValueError(f"{env.name}: stores renderer state but defines no source_cell / "
                             "num_source_cells for a tabular source")
        return TabularView(int(env.num_source_cells),
                           lambda obs, state: env.stored_obs(state), env.source_cell)
    dims = obs_dims(env)
    return TabularView(int(np.prod(dims)), lambda obs, state: obs,
                       lambda o: obs_index(o, dims))


def stack_episodes(hist_EL: History) -> History:
    """[E, L, S, ...] scan output -> History [S, E * L, ...]."""

    def f(x):
        x = jnp.moveaxis(x, 2, 0)
        return x.reshape(x.shape[0], -1, *x.shape[3:])

    return jax.tree.map(f, hist_EL)
