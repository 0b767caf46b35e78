"""Tabular epsilon-greedy Q-learning (Watkins 1989): a cheap source for quick presets and tests."""

from dataclasses import dataclass, replace
from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import struct

from adjax.sources.common import History, stack_episodes, tabular_view


@dataclass(frozen=True)
class Config:
    """Defaults reach >= 90% of the optimal return on all Dark Room training goals (see README)."""

    NAME: ClassVar[str] = "qlearning"
    num_episodes: int = 400
    num_streams: int = 1  # independent learners per task, one history each
    lr: float = 0.5  # step size alpha
    gamma: float = 0.9
    eps_start: float = 1.0
    eps_end: float = 0.01
    eps_decay_frac: float = 0.5  # epsilon decays linearly over this fraction of the episodes
    q_init: float = 0.0  # > 0 is optimistic: untried actions look good, exploration is directed
    backward_replay: bool = False  # after each episode, redo its updates last step first
    # The tabular state is (observation, min(rewarding steps so far this episode, levels - 1)).
    # 1: the observation alone. Key-to-Door needs 2: its observation has no has-key bit, but
    # the learner knows from its own rewards whether it has picked the key up this episode.
    reward_levels: int = 1
    expert_eps: float = 0.0  # exploration of the expert (converged, greedy) policy


@struct.dataclass
class QState:
    q: jax.Array  # float32[S, num_states, A]
    env_state: struct.PyTreeNode  # batched over S
    obs: jax.Array  # [S, ...]: the current step's recorded observation (`TabularView.record`)
    episode: jax.Array  # int32 scalar, episodes completed
    ep_rewards: jax.Array  # int32[S], rewarding steps so far in the current episode


def epsilon(cfg: Config, episode: jax.Array) -> jax.Array:
    """Linear decay from eps_start to eps_end over eps_decay_frac * num_episodes episodes."""
    span = max(cfg.eps_decay_frac * cfg.num_episodes, 1.0)
    frac = jnp.clip(episode / span, 0.0, 1.0)
    return cfg.eps_start + frac * (cfg.eps_end - cfg.eps_start)


def _max_over_actions(q_A: jax.Array) -> jax.Array:
    """max of a short action vector as a chain of elementwise maxima. Same value as jnp.max, but
    XLA CPU runs a reduction over a handful of elements as a separate (YNNPACK) kernel per step,
    and in the vmapped learner those kernels took half the step (bench_sources: 10 -> 19 M
    env-steps/s at 1024 tasks for this and the elementwise ranking in select_action)."""
    top = q_A[0]
    for a in range(1, q_A.shape[0]):
        top = jnp.maximum(top, q_A[a])
    return top


def td_target(reward, next_q_A, terminated, gamma):
    """One-step Q-learning target r + gamma * max_a' Q(s', a'), no bootstrap past termination."""
    return reward + gamma * (1.0 - terminated) * _max_over_actions(next_q_A)


def select_action(q_A: jax.Array, bits: jax.Array, eps: jax.Array) -> jax.Array:
    """Epsilon-greedy from one uint32 word: bits 0-15 the coin, 16-23 the random action,
    24-31 which of the tied greedy actions (uniform among ties). Written per action (no
    cumsum/argmax over the action axis) for the reason given in _max_over_actions."""
    (num_actions,) = q_A.shape
    coin = (bits & 0xFFFF).astype(jnp.float32) * (1.0 / 65536.0)
    rand_a = (((bits >> 16) & 0xFF) * num_actions) >> 8
    top = _max_over_actions(q_A)
    is_max = [(q_A[a] == top).astype(jnp.uint32) for a in range(num_actions)]
    rank = [is_max[0]]  # 1-based rank among the maxima, up to and including each action
    for a in range(1, num_actions):
        rank.append(rank[-1] + is_max[a])
    pick = ((((bits >> 24) & 0xFF) * rank[-1]) >> 8) + 1
    greedy = sum(jnp.uint32(a) * is_max[a] * (rank[a] == pick) for a in range(num_actions))
    return jnp.where(coin < eps, rand_a, greedy).astype(jnp.int32)


def make_train(cfg: Config, env):
    """-> train(key, env_params) -> (QState, History[S, num_episodes * episode_len])."""
    run, num_states = _make_run(cfg, env)

    if cfg.reward_levels < 1:
        raise ValueError(f"qlearning: reward_levels must be >= 1, got {cfg.reward_levels}")

    def train(key, env_params):
        q0 = jnp.full((cfg.num_streams, num_states, env.num_actions), cfg.q_init, jnp.float32)
        return run(key, env_params, q0)

    return train


def make_expert(cfg: Config, env, num_episodes: int):
    """-> expert(key, final_state, env_params) -> History[S, num_episodes * episode_len]:
    the learnt Q-table acted on greedily (expert_eps exploration), learning switched off."""
    frozen = replace(cfg, lr=0.0, num_episodes=num_episodes,
                     eps_start=cfg.expert_eps, eps_end=cfg.expert_eps)
    run, _ = _make_run(frozen, env)

    def expert(key, final_state: QState, env_params):
        return run(key, env_params, final_state.q)[1]

    return expert


def _make_run(cfg: Config, env):
    view = tabular_view(env)
    levels = cfg.reward_levels
    num_states = view.num_cells * levels
    ep_len, S = env.episode_len, cfg.num_streams
    v_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    v_cell = jax.vmap(view.cell)
    v_record = jax.vmap(view.record)

    def v_index(rec_S, ep_rewards_S):
        return v_cell(rec_S) * levels + jnp.minimum(ep_rewards_S, levels - 1)

    v_select = jax.vmap(select_action, in_axes=(0, 0, None))
    v_target = jax.vmap(td_target, in_axes=(0, 0, 0, None))
    streams = jnp.arange(S)

    def step(carry, inp):
        state, eps, env_params = carry
        bits_S, key = inp
        s_idx = v_index(state.obs, state.ep_rewards)
        action = v_select(state.q[streams, s_idx], bits_S, eps)
        obs, env_state, reward, term, trunc, info = v_step(
            jax.random.split(key, S), state.env_state, action, env_params
        )
        # Bootstrap through truncation: the next state is the pre-reset one.
        ep_rewards = state.ep_rewards + (reward > 0).astype(jnp.int32)
        next_idx = v_index(v_record(info["final_observation"], info.get("final_state")),
                           ep_rewards)
        next_q_SA = state.q[streams, next_idx]
        target = v_target(reward, next_q_SA, term.astype(jnp.float32), cfg.gamma)
        td = target - state.q[streams, s_idx, action]
        q = state.q.at[streams, s_idx, action].add(cfg.lr * td)
        rec = History(obs=state.obs, actions=action, rewards=reward.astype(jnp.float32))
        transition = (s_idx, action, reward.astype(jnp.float32), next_idx, term)
        done = term | trunc
        state = state.replace(q=q, env_state=env_state, obs=v_record(obs, env_state),
                              ep_rewards=jnp.where(done, 0, ep_rewards))
        return (state, eps, env_params), (rec, transition)

    def replay(q, transition):
        """The same Q update for one stored transition (used last-step-first after an episode,
        which carries a reward back along the whole path in one sweep)."""
        s_idx, action, reward, next_idx, term = transition
        target = v_target(reward, q[streams, next_idx], term.astype(jnp.float32), cfg.gamma)
        td = target - q[streams, s_idx, action]
        return q.at[streams, s_idx, action].add(cfg.lr * td), None

    def episode(carry, key):
        state, env_params = carry
        k_bits, k_env = jax.random.split(key)
        bits_LS = jax.random.bits(k_bits, (ep_len, S), jnp.uint32)
        eps = epsilon(cfg, state.episode)
        (state, _, _), (rec, transitions) = jax.lax.scan(
            step, (state, eps, env_params), (bits_LS, jax.random.split(k_env, ep_len))
        )
        if cfg.backward_replay and cfg.lr > 0:
            q, _ = jax.lax.scan(replay, state.q, transitions, reverse=True)
            state = state.replace(q=q)
        return (state.replace(episode=state.episode + 1), env_params), rec

    def run(key, env_params, q0_SxNxA):
        k_reset, k_run = jax.random.split(key)
        obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(k_reset, S), env_params
        )
        state = QState(q=q0_SxNxA, env_state=env_state, obs=v_record(obs, env_state),
                       episode=jnp.int32(0),
                       ep_rewards=jnp.zeros(S, jnp.int32))
        (state, _), hist = jax.lax.scan(
            episode, (state, env_params), jax.random.split(k_run, cfg.num_episodes)
        )
        return state, stack_episodes(hist)

    return run, num_states
