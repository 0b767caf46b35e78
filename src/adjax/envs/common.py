"""Shared pieces of the adjax environments: hashable base class, grid moves, input checks."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import environment, spaces
from jax.experimental import checkify


def stores_state(env) -> bool:
    """True for envs whose datasets store renderer state instead of frames (`stored_obs` and
    `render_stored` methods, `stored_obs_fields`: Watermaze)."""
    return all(hasattr(env, a) for a in ("stored_obs", "render_stored", "stored_obs_fields"))


class ConfiguredEnv(environment.Environment):
    """A gymnax Environment whose identity is (class, static config).

    Two envs with equal config hash and compare equal, so gymnax's
    `jax.jit(static_argnames="self")` on `step`/`reset` reuses compiled code across `make` calls.
    Subclasses set `name`, `episode_len`, `num_actions` and implement `config()`.
    """

    def config(self) -> dict:
        """Static configuration (python values): what `make` takes as overrides."""
        raise NotImplementedError

    def __hash__(self):
        return hash((type(self), tuple(sorted(self.config().items()))))

    def __eq__(self, other):
        return type(other) is type(self) and other.config() == self.config()

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"

    def resolve_params(self, params):
        """params or the defaults; static fields must match this env (checked at trace time)."""
        if params is None:
            return self.default_params
        want = self.default_params
        for field in ("max_steps_in_episode", *self.static_param_fields):
            got, exp = getattr(params, field), getattr(want, field)
            if got != exp:
                raise ValueError(f"{self!r}: params.{field}={got} but this env has {exp}; "
                                 "use the params from the same `make` call")
        return params

    static_param_fields: tuple[str, ...] = ()


class GridEnv(ConfiguredEnv):
    """A `size` x `size` grid whose observation is the agent's cell (x, y), episodes of fixed
    length ending by time limit only, with gymnax 1.x auto-reset. Subclasses give the rules:
    `_initial(key)` (the state an episode starts in; may ignore key) and `_transition(state,
    action, params) -> (state, reward)`. A subclass whose `_initial` ignores the key draws no
    random numbers at all: the unused key is dead code under jit."""

    size: int

    def _initial(self, key):
        raise NotImplementedError

    def _transition(self, state, action, params):
        raise NotImplementedError

    def step_env(self, key, state, action, params):
        new, reward = self._transition(state, action, params)
        return new.pos, new, reward, jnp.bool_(False), {}

    def reset_env(self, key, params):
        state = self._initial(key)
        return state.pos, state

    def get_obs(self, state, params=None, key=None):
        return state.pos

    def is_terminated(self, state, params):
        return jnp.bool_(False)

    @partial(jax.jit, static_argnames=("self",))
    def step(self, key, state, action, params=None):
        """gymnax 1.x step: auto-reset at the time limit, to `_initial(key)` with `key` unsplit;
        info carries "final_observation", the cell reached before any reset."""
        params = self.resolve_params(params)
        st, reward = self._transition(state, action, params)
        truncated = st.time >= params.max_steps_in_episode
        state = jax.tree.map(lambda r, s: jax.lax.select(truncated, r, s), self._initial(key), st)
        terminated = jnp.bool_(False)
        info = {"terminated": terminated, "truncated": truncated, "final_observation": st.pos}
        return state.pos, state, reward, terminated, truncated, info

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key, params=None):
        self.resolve_params(params)
        state = self._initial(key)
        return state.pos, state

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(0, self.size - 1, (2,), jnp.int32)

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(self.num_actions)


def grid_move(pos_2: jax.Array, action: jax.Array, size: int) -> jax.Array:
    """Move (x, y) by action (0 no-op, 1 up y-1, 2 right x+1, 3 down y+1, 4 left x-1), walls stop.

    Any other action value (negative, >= 5) moves nowhere: it acts as a no-op.
    """
    assert pos_2.shape == (2,), pos_2.shape
    a = jnp.asarray(action, jnp.int32)
    # Per component (x, y): +1 on action (2, 3), -1 on action (4, 1). Written against [2]-vectors
    # rather than by stacking dx and dy, which vmapped makes a [2, N] array that XLA transposes
    # into the [N, 2] positions at every step.
    plus, minus = jnp.array([2, 3], jnp.int32), jnp.array([4, 1], jnp.int32)
    delta = (a == plus).astype(jnp.int32) - (a == minus).astype(jnp.int32)
    return jnp.clip(pos_2 + delta, 0, size - 1)


def concrete(x):
    """numpy value of x, or None when x is a tracer (inside jit/vmap)."""
    try:
        return np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def check_grid_task(task, shape: tuple[int, ...], size: int, what: str) -> jax.Array:
    """Validate a grid task (cells as (x, y) on the last axis) -> int32 array.

    Shape is always checked; values (integers in [0, size)) only when concrete.
    """
    arr = jnp.asarray(task)
    if arr.shape != shape:
        raise ValueError(f"{what}: task must have shape {shape}, got {arr.shape}")
    value = concrete(task)
    if value is not None:
        if not np.all(np.equal(np.mod(value, 1), 0)):
            raise ValueError(f"{what}: task must hold integer cells, got {value.tolist()}")
        if np.any(value < 0) or np.any(value >= size):
            raise ValueError(f"{what}: task {value.tolist()} lies outside the {size}x{size} grid "
                             f"(cells are 0..{size - 1})")
    return arr.astype(jnp.int32)


def check_int(value, name: str, minimum: int, what: str) -> int:
    """A python int >= minimum, else a ValueError naming the setting."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{what}: {name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{what}: {name}={value} is too small (minimum {minimum})")
    return int(value)


def check_action(env, action) -> None:
    """checkify check that action(s) lie in [0, env.num_actions); use under checkify.checkify."""
    a = jnp.asarray(action)
    ok = jnp.all((a >= 0) & (a < env.num_actions))
    checkify.check(ok, f"{env.name}: action out of range [0, {env.num_actions}): {{a}}", a=a)


def checked_step(env):
    """env.step that raises on an out-of-range action instead of treating it silently.

    Returns `step(key, state, action, params=None) -> (obs, state, reward, terminated, truncated,
    info)`, jitted and checkified; an invalid action raises `checkify.JaxRuntimeError` naming it.
    For batched use, compose yourself: `checkify.checkify(jax.vmap(f))` with `check_action` in f.
    """

    def step(key, state, action, params=None):
        check_action(env, action)
        return env.step(key, state, action, params)

    fn = jax.jit(checkify.checkify(step))

    def run(key, state, action, params=None):
        err, out = fn(key, state, action, params)
        err.throw()
        return out

    return run
