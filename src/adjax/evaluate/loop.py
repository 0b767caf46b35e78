"""In-context evaluation loop: an agent acts on one task, filling its own context; one jitted scan.

Design (docs/design.md, "Evaluation"). The agent sees step inputs (o_t, a_{t-1}, r_{t-1}) of one
continuous stream (episode ends do not reset the context; the first step's previous action is the
"none" index `num_actions`, reward 0, as `adjax.model.step_inputs` builds training windows).
The context holds the last k steps, c - b < k <= c (c = `agent.spec.context_len`, b =
`refresh_every`): every b steps the last m = c - b step inputs, kept in a left-padded buffer, are
re-encoded into a fresh agent state (transformer: one full `extend` pass into an empty KV cache),
then b steps are decoded one at a time, each appending one step to that state. The outer `lax.scan`
runs over blocks of b steps, the inner over steps: no `lax.cond` (under vmap a cond runs both
branches). b = 1 is the paper's queue of the last c transitions (a full pass every step).
With `AgentSpec.episode_marker` (the model's `ModelConfig.episode_marker`) the step after every
episode end reads previous action "none" and reward 0, as the model's training windows did.
A ring buffer of keys/values would be cheaper but wrong: with more than one layer a cached key
carries information from steps that have left the window. A prompt (Fig. 5) pre-fills the buffer.

Agent protocol: an `Agent` subclass (a pytree) with `encode(obs_KxO, prev_act_K, prev_rew_K,
valid_K) -> state` and `decode(state, obs_O, prev_act, prev_rew) -> (logits_A, state)`; fake
agents in tests implement the same two methods without a transformer.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from adjax.envs import stores_state
from adjax.model import mark_episode_starts, step_inputs


@dataclass(frozen=True)
class AgentSpec:
    """Static interface of an agent: the spaces it was trained on, its context length c (steps),
    and whether each episode's first step reads previous action "none" and reward 0
    (`ModelConfig.episode_marker`)."""

    obs_shape: tuple[int, ...]
    obs_dtype: str
    num_actions: int
    context_len: int
    episode_marker: bool = False


class Agent(struct.PyTreeNode):
    """Acting policy over a context of step inputs; subclasses hold parameters as pytree fields."""

    spec: AgentSpec = struct.field(pytree_node=False)

    def encode(self, obs_KxO, prev_act_K, prev_rew_K, valid_K) -> Any:
        """Fresh state holding K step inputs (left-padded, `valid_K` marks real ones); K >= 0."""
        raise NotImplementedError

    def decode(self, state, obs_O, prev_act, prev_rew) -> tuple[jax.Array, Any]:
        """Append one step input to `state` -> (its action logits float32[A], new state)."""
        raise NotImplementedError


@struct.dataclass
class Prompt:
    """Transitions (o_i, a_i, r_i) pre-filling the context before the agent acts (paper Fig. 5)."""

    obs: jax.Array  # [P, *obs_shape]
    actions: jax.Array  # int32[P]
    rewards: jax.Array  # float32[P]


@struct.dataclass
class PaddedSteps:
    """Model inputs of K steps, (o_t, a_{t-1}, r_{t-1}), with a validity mask for left padding:
    an agent's context buffer (`adjax.model.StepInputs` is one unpadded training sequence)."""

    obs: jax.Array  # [K, *obs_shape]
    prev_act: jax.Array  # int32[K]
    prev_rew: jax.Array  # float32[K]
    valid: jax.Array  # bool[K]


@struct.dataclass
class Trace:
    """What happened at every env step t of a rollout (T steps)."""

    obs: jax.Array  # [T, *obs_shape]   o_t, the observation the action was chosen on
    prev_act: jax.Array  # int32[T]     a_{t-1} (num_actions = none)
    prev_rew: jax.Array  # float32[T]   r_{t-1}
    logits: jax.Array  # float32[T, A]
    actions: jax.Array  # int32[T]
    rewards: jax.Array  # float32[T]
    done: jax.Array  # bool[T]           terminated or truncated after a_t
    # float32[T, F]: `env.stored_obs` of the state o_t was rendered from, for envs whose
    # observation is a rendering of it (`adjax.envs.stores_state`: Watermaze's x, y, heading);
    # None for the others. Unused outputs are dropped by XLA, so returns are unchanged.
    stored: jax.Array | None = None


@struct.dataclass
class _Carry:
    env_state: Any
    obs: jax.Array
    prev_act: jax.Array
    prev_rew: jax.Array
    buffer: PaddedSteps


def prompt_inputs(prompt: Prompt, num_actions: int, episode_len: int | None = None
                  ) -> tuple[PaddedSteps, jax.Array, jax.Array]:
    """Step inputs of a prompt's P steps, and the previous action and reward of the step after.
    episode_len: mark episode starts (`ModelConfig.episode_marker`): the prompt is whole episodes
    of that length, and the step after it, an episode's first, reads "none" and 0."""
    assert prompt.actions.ndim == 1, f"one prompt of P steps, got actions {prompt.actions.shape}"
    x = step_inputs(prompt.obs, prompt.actions, prompt.rewards, num_actions, 0.0)
    prev_a, prev_r = prompt.actions[-1].astype(jnp.int32), prompt.rewards[-1].astype(jnp.float32)
    if episode_len is not None:
        P = prompt.actions.shape[0]
        if P % episode_len:
            raise ValueError(f"a prompt for an agent with episode_marker must be whole episodes: "
                             f"{P} steps is not a multiple of the episode length {episode_len}")
        x = mark_episode_starts(x, jnp.arange(P), episode_len, num_actions)
        prev_a, prev_r = jnp.int32(num_actions), jnp.float32(0.0)
    steps = PaddedSteps(x.obs, x.prev_action, x.prev_reward, jnp.ones(prompt.actions.shape, bool))
    return steps, prev_a, prev_r


def _last_m(steps: PaddedSteps, m: int) -> PaddedSteps:
    """The last m steps, left-padded with invalid zeros when there are fewer."""
    k = steps.valid.shape[0]
    if k >= m:
        return jax.tree.map(lambda x: x[k - m :], steps)
    pad = lambda x: jnp.concatenate([jnp.zeros((m - k, *x.shape[1:]), x.dtype), x])
    return jax.tree.map(pad, steps)


def check_spaces(agent: Agent, env, env_params) -> None:
    """Raise ValueError unless the env's obs shape/dtype and action count match the agent's."""
    spec = agent.spec
    name = getattr(env, "name", type(env).__name__)
    obs_space = env.observation_space(env_params)
    shape, dtype = tuple(obs_space.shape), np.dtype(obs_space.dtype)
    if shape != tuple(spec.obs_shape) or dtype != np.dtype(spec.obs_dtype):
        raise ValueError(
            f"observation space of {name} is {dtype.name}{list(shape)}, but the agent was "
            f"trained on {np.dtype(spec.obs_dtype).name}{list(spec.obs_shape)}"
        )
    act_space = env.action_space(env_params)
    n = getattr(act_space, "n", None)
    if n is None:
        raise ValueError(f"action space of {name} is {act_space!r}: a Discrete space is required")
    try:
        n = int(n)
    except (TypeError, jax.errors.ConcretizationTypeError) as e:
        raise ValueError(f"action space size of {name} must be a static int, got {n!r}") from e
    if n != spec.num_actions:
        raise ValueError(
            f"action space of {name} has {n} actions, but the agent was trained on "
            f"{spec.num_actions}"
        )


def episode_length(env, env_params, override: int | None = None) -> int:
    """Steps per episode: `override`, else `params.max_steps_in_episode`, else default params'."""
    if override is not None:
        return int(override)
    for p in (env_params, getattr(env, "default_params", None)):
        value = getattr(p, "max_steps_in_episode", None)
        try:
            return int(value)
        except (TypeError, jax.errors.ConcretizationTypeError):
            continue
    raise ValueError("episode length unknown: pass episode_len=")


def _sample(key, logits_A, temperature, greedy: bool):
    if greedy:
        return jnp.argmax(logits_A).astype(jnp.int32)
    return jax.random.categorical(key, logits_A / temperature).astype(jnp.int32)


@partial(jax.jit, static_argnames=("env", "num_steps", "refresh_every", "greedy", "episode_len"))
def rollout(
    key: jax.Array,
    agent: Agent,
    env,
    env_params,
    num_steps: int,
    refresh_every: int,
    temperature: float | jax.Array = 1.0,
    greedy: bool = False,
    prompt: Prompt | None = None,
    episode_len: int | None = None,
) -> Trace:
    """Run the agent num_steps env steps on one task (unbatched) -> Trace with leading axis [T].
    episode_len: needed only for a prompt to an agent with `spec.episode_marker` (whose episode
    starts it marks); the episodes the agent plays are marked by the env's done flags."""
    check_spaces(agent, env, env_params)
    spec, b = agent.spec, refresh_every
    c, none = spec.context_len, spec.num_actions
    if not 1 <= b <= c:
        raise ValueError(f"refresh_every={b} must lie in [1, context_len={c}]")
    if num_steps % b:
        raise ValueError(f"refresh_every={b} must divide the number of steps {num_steps}")
    m, obs_dtype = c - b, jnp.dtype(spec.obs_dtype)

    empty = PaddedSteps(
        jnp.zeros((0, *spec.obs_shape), obs_dtype),
        jnp.zeros((0,), jnp.int32),
        jnp.zeros((0,), jnp.float32),
        jnp.zeros((0,), bool),
    )
    prev_act, prev_rew = jnp.int32(none), jnp.float32(0.0)
    if prompt is not None:
        if spec.episode_marker and episode_len is None:
            raise ValueError("a prompt to an agent with episode_marker needs episode_len")
        empty, prev_act, prev_rew = prompt_inputs(
            prompt, none, episode_len if spec.episode_marker else None)
        empty = empty.replace(obs=empty.obs.astype(obs_dtype))
    buffer = _last_m(empty, m)

    key_reset, key_run = jax.random.split(key)
    obs, env_state = env.reset(key_reset, env_params)
    if tuple(obs.shape) != tuple(spec.obs_shape):
        raise ValueError(f"env observation has shape {obs.shape}, its space says {spec.obs_shape}")
    carry = _Carry(env_state, obs.astype(obs_dtype), prev_act, prev_rew, buffer)

    def block(carry: _Carry, key_b):
        buf = carry.buffer
        agent_state = agent.encode(buf.obs, buf.prev_act, buf.prev_rew, buf.valid)

        def step(inner, key_s):
            carry, agent_state = inner
            logits, agent_state = agent.decode(
                agent_state, carry.obs, carry.prev_act, carry.prev_rew
            )
            key_act, key_env = jax.random.split(key_s)
            action = _sample(key_act, logits, temperature, greedy)
            obs, env_state, rew, term, trunc, _ = env.step(
                key_env, carry.env_state, action, env_params
            )
            rew, done = jnp.asarray(rew, jnp.float32), jnp.logical_or(term, trunc)
            rec = Trace(
                carry.obs, carry.prev_act, carry.prev_rew, logits.astype(jnp.float32), action,
                rew, done, env.stored_obs(carry.env_state) if stores_state(env) else None,
            )
            prev_act, prev_rew = action, rew
            if spec.episode_marker:  # the next step starts an episode: "none", 0
                prev_act = jnp.where(done, jnp.int32(none), action)
                prev_rew = jnp.where(done, jnp.float32(0.0), rew)
            carry = carry.replace(
                env_state=env_state, obs=obs.astype(obs_dtype), prev_act=prev_act,
                prev_rew=prev_rew
            )
            return (carry, agent_state), rec

        (carry, _), rec = jax.lax.scan(step, (carry, agent_state), jax.random.split(key_b, b))
        if m:
            new = PaddedSteps(rec.obs, rec.prev_act, rec.prev_rew, jnp.ones((b,), bool))
            both = jax.tree.map(lambda x, y: jnp.concatenate([x, y]), carry.buffer, new)
            carry = carry.replace(buffer=_last_m(both, m))
        return carry, rec

    _, rec = jax.lax.scan(block, carry, jax.random.split(key_run, num_steps // b))
    return jax.tree.map(lambda x: x.reshape(num_steps, *x.shape[2:]), rec)


def episode_returns_by_done(rewards_T: jax.Array, done_T: jax.Array,
                            num_episodes: int) -> jax.Array:
    """Sum of rewards between done flags -> float32[num_episodes] (extra episodes dropped). For
    episodes of one fixed length in a dataset: `adjax.data.dataset.episode_returns`."""
    assert rewards_T.ndim == 1 and done_T.shape == rewards_T.shape
    done = done_T.astype(jnp.int32)
    episode = jnp.cumsum(done) - done  # episodes finished before step t
    return jax.ops.segment_sum(rewards_T.astype(jnp.float32), episode, num_segments=num_episodes)


def in_context(
    key: jax.Array,
    agent: Agent,
    env,
    env_params,
    num_episodes: int,
    *,
    refresh_every: int | None = None,
    temperature: float | jax.Array = 1.0,
    greedy: bool = False,
    prompt: Prompt | None = None,
    episode_len: int | None = None,
) -> jax.Array:
    """Returns of num_episodes episodes of `agent` acting in-context on one task -> float32[E].

    Runs num_episodes × episode_len env steps (episode_len from `env_params.max_steps_in_episode`
    unless given) as one jitted scan; `refresh_every` (b, default one episode) must divide them.
    Actions are sampled from softmax(logits / temperature), or the argmax when `greedy`. Vmap over
    keys and env params (and agents) at the call site.
    """
    length = episode_length(env, env_params, episode_len)
    b = length if refresh_every is None else int(refresh_every)
    return _in_context(
        key, agent, env, env_params, num_episodes, length, b, temperature, greedy, prompt
    )


def in_context_trace(
    key: jax.Array,
    agent: Agent,
    env,
    env_params,
    num_episodes: int,
    *,
    refresh_every: int | None = None,
    temperature: float | jax.Array = 1.0,
    greedy: bool = False,
    prompt: Prompt | None = None,
    episode_len: int | None = None,
) -> Trace:
    """The `Trace` of the rollout `in_context` runs with the same arguments: the same steps,
    keys and context refresh, so `episode_returns_by_done(trace.rewards, trace.done,
    num_episodes)` are its returns. For looking at what the agent did (observations, actions per
    step)."""
    length = episode_length(env, env_params, episode_len)
    b = length if refresh_every is None else int(refresh_every)
    return rollout(key, agent, env, env_params, num_episodes * length, b, temperature, greedy,
                   prompt, length)


@partial(jax.jit, static_argnums=(2, 4, 5, 6, 8))
def _in_context(key, agent, env, env_params, num_episodes, length, b, temperature, greedy, prompt):
    steps = num_episodes * length
    trace = rollout(key, agent, env, env_params, steps, b, temperature, greedy, prompt, length)
    return episode_returns_by_done(trace.rewards, trace.done, num_episodes)
