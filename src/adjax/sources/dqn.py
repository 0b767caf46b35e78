"""DQN with Q(lambda) returns from pixels: the paper's Watermaze source (Laskin et al. 2023, App.).

One learner per task (vmap over tasks), `num_actors` epsilon-greedy actors stepping in lock-step;
each actor's stream is its own learning history. Every iteration each actor takes
`rollout - overlap` steps (so its newest rollout of `rollout` steps overlaps the previous one by
`overlap`), the steps go into a replay buffer, and the learner takes one Adam step on a batch of
`batch_size` rollouts: round(batch_size * (1 - offline_fraction)) of them the newest rollouts of
distinct random actors (online), the rest drawn uniformly from the replay (offline). The target
network is copied from the online one every `target_period` updates.

Q(lambda) is Peng's (no trace cut at exploratory actions; what `rlax.q_lambda` computes by default):
G_t = r_t + gamma * ((1 - lambda_t) max_a Q'(s'_t, a) + lambda_t G_{t+1}), and at the end of the
rollout G = r + gamma max_a Q'(s'). s'_t is the state after action t *before* any auto-reset,
so episodes end by time limit and are bootstrapped through (docs/conventions.md); lambda_t is 0 on
an episode's last step, so no return runs into the next episode. Loss 0.5 (Q(s_t, a_t) - G_t)^2.

Replay stores what the renderer needs, not frames (`env.stored_obs`: Watermaze's float32 (x, y,
heading)), and rollouts are rendered when they are sampled (`env.render_stored`, bit for bit the
frames the actors saw): 1e5 transitions are 3.6 MB per task instead of 2 GB at 72x96, so the
learner vmaps over tasks. The recorded history's `obs` is that stored state too, which is what a
Watermaze dataset stores (adjax.data).

Libraries: the replay is `flashbax` (trajectory buffer, period = rollout - overlap). The Q(lambda)
recursion is written here (`q_lambda_returns`, ten lines): `rlax` 0.1.9 works with our pins and
gives the same returns (checked once while writing this: within 2.4e-7 on random rollouts),
but it depends on distrax and through it on a tfp-nightly build, a dependency this project would
have to pin for those ten lines.
"""

from dataclasses import dataclass
from typing import ClassVar

import flashbax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from adjax.sources.common import History
from adjax.sources.qlearning import select_action


@dataclass(frozen=True)
class Config:
    """Defaults are the paper's (App., Watermaze DQN): 16 actors, batch 8, rollout 40 with overlap
    31, replay 1e5 with offline fraction 0.7, lambda 0.75, epsilon 0.01, gamma 0.9, target period
    50, ResNet [32, 64, 64], Adam lr 1e-4, gradient-norm clip 10. Ours: two residual blocks per
    stage and a 256-unit layer (IMPALA's ResNet), the optional epsilon decay (off: eps_start ==
    epsilon), the expert's epsilon. `cpu_config()` is the small variant the CPU learning run uses.
    """

    NAME: ClassVar[str] = "dqn"
    num_actors: int = 16
    num_episodes: int = 100  # per actor stream (= per history)
    batch_size: int = 8
    rollout: int = 40
    overlap: int = 31
    replay_size: int = 100_000  # transitions per task (all actors)
    offline_fraction: float = 0.7
    lam: float = 0.75
    gamma: float = 0.9
    epsilon: float = 0.01
    eps_start: float = 0.01  # > epsilon: linear decay to epsilon over eps_decay_episodes
    eps_decay_episodes: int = 1
    target_period: int = 50
    channels: tuple[int, ...] = (32, 64, 64)
    blocks: int = 2  # residual blocks per stage
    hidden: int = 256
    lr: float = 1e-4
    max_grad_norm: float = 10.0
    expert_eps: float = 0.01  # the expert acts as the actors do at the end (epsilon-greedy)

    @property
    def period(self) -> int:
        """Steps each actor takes per update: a new rollout starts every `period` steps."""
        return self.rollout - self.overlap

    @property
    def num_online(self) -> int:
        return int(round(self.batch_size * (1.0 - self.offline_fraction)))


def cpu_config(**overrides) -> Config:
    """A small DQN for CPU runs at 24x32: two conv stages [8, 16] without residual blocks,
    hidden 64, rollouts of 20 with overlap 11 (a new one every 9 steps, as the paper's 40/31),
    lr 1e-3, epsilon decaying from 0.3 to 0.01 over 20 episodes; otherwise the paper's. Measured
    on the shared 2-core CPU: one gradient of the [8, 16, 16] one-block ResNet on 8 tasks x 160
    frames of 24x32 took 18 s, so the paper's net and rollout (8 x 40 frames per update, per
    task) did not fit a run of minutes (experiments/watermaze/NOTES.md)."""
    return Config(**{"channels": (8, 16), "blocks": 0, "hidden": 64, "rollout": 20,
                     "overlap": 11, "lr": 1e-3, "eps_start": 0.3, "eps_decay_episodes": 20,
                     **overrides})


def check_config(cfg: Config) -> None:
    """Errors naming the field and its value (before any compilation)."""
    for name in ("num_actors", "num_episodes", "batch_size", "rollout", "replay_size",
                 "target_period", "blocks", "hidden", "eps_decay_episodes"):
        v, least = getattr(cfg, name), 0 if name == "blocks" else 1
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < least:
            raise ValueError(f"dqn config {name}={v!r}: must be an integer >= {least}")
    if not 0 <= cfg.overlap < cfg.rollout:
        raise ValueError(f"dqn config overlap={cfg.overlap!r}: must be in [0, rollout="
                         f"{cfg.rollout})")
    for name in ("offline_fraction", "lam", "gamma", "epsilon", "eps_start", "expert_eps"):
        v = getattr(cfg, name)
        if not (isinstance(v, int | float) and 0 <= v <= 1):
            raise ValueError(f"dqn config {name}={v!r}: must be a number in [0, 1]")
    if cfg.num_online > cfg.num_actors:
        raise ValueError(f"dqn config: {cfg.num_online} online rollouts per batch (batch_size "
                         f"{cfg.batch_size}, offline_fraction {cfg.offline_fraction}) but only "
                         f"{cfg.num_actors} actors")
    if cfg.replay_size // cfg.num_actors < cfg.rollout:
        raise ValueError(f"dqn config replay_size={cfg.replay_size}: holds fewer than rollout="
                         f"{cfg.rollout} steps per actor ({cfg.num_actors} actors)")
    if not cfg.channels or min(cfg.channels) < 1:
        raise ValueError(f"dqn config channels={cfg.channels!r}: must be positive")


class ResNetQ(nn.Module):
    """uint8 frames [..., H, W, C] -> Q-values float32[..., A]: IMPALA's ResNet (per stage: conv
    3x3, max-pool 3x3 stride 2, `blocks` x [ReLU, conv, ReLU, conv] + skip), ReLU, dense
    `hidden`, ReLU, linear head."""

    num_actions: int
    channels: tuple[int, ...]
    blocks: int
    hidden: int

    @nn.compact
    def __call__(self, frames):
        lead = frames.shape[:-3]
        x = frames.reshape(-1, *frames.shape[-3:]).astype(jnp.float32) * (1.0 / 255.0)
        for ch in self.channels:
            x = nn.Conv(ch, (3, 3))(x)
            x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")
            for _ in range(self.blocks):
                y = nn.Conv(ch, (3, 3))(nn.relu(x))
                x = x + nn.Conv(ch, (3, 3))(nn.relu(y))
        x = nn.relu(x).reshape(x.shape[0], -1)
        x = nn.relu(nn.Dense(self.hidden)(x))
        q = nn.Dense(self.num_actions)(x)
        return q.reshape(*lead, self.num_actions)


def q_lambda_returns(rewards_T, discounts_T, q_next_TxA, lambdas_T):
    """Peng's Q(lambda) returns of one rollout -> float32[T].

    G_{T-1} = r + d max Q(s'), G_t = r_t + d_t ((1 - lambda_t) max_a q_next[t, a] + lambda_t
    G_{t+1}). q_next[t] = Q_target(s'_t), s'_t the state after action t (pre-reset)."""
    assert rewards_T.ndim == 1 and q_next_TxA.shape[0] == rewards_T.shape[0], (
        rewards_T.shape, q_next_TxA.shape)
    v_T = jnp.max(q_next_TxA, axis=-1)

    def back(g, x):
        r, d, v, lam = x
        g = r + d * ((1.0 - lam) * v + lam * g)
        return g, g

    _, g_T = jax.lax.scan(back, v_T[-1], (rewards_T, discounts_T, v_T, lambdas_T), reverse=True)
    return g_T


def q_lambda_loss(q_TxA, actions_T, returns_T):
    """0.5 mean (Q(s_t, a_t) - G_t)^2, the returns held fixed."""
    q_a = jnp.take_along_axis(q_TxA, actions_T[..., None], axis=-1)[..., 0]
    return 0.5 * jnp.mean(jnp.square(q_a - jax.lax.stop_gradient(returns_T)))


@struct.dataclass
class Step:
    """One actor step as replay stores it: stored obs before and after (pre-reset) the action."""

    obs: jax.Array  # float32[3]: env.stored_obs of the state the action was chosen in
    next_obs: jax.Array  # float32[3]: of the state after the action, before any reset
    action: jax.Array  # int32
    reward: jax.Array  # float32
    last: jax.Array  # bool: the step ended an episode


@struct.dataclass
class DQNState:
    params: dict
    target: dict
    opt_state: optax.OptState
    replay: struct.PyTreeNode  # flashbax TrajectoryBufferState, [num_actors, time]
    window: Step  # [num_actors, rollout]: each actor's newest rollout
    env_state: struct.PyTreeNode  # batched over actors
    obs: jax.Array  # uint8[N, H, W, C], the actors' current frames
    steps: jax.Array  # int32 scalar: steps each actor has taken
    updates: jax.Array  # int32 scalar


def epsilon(cfg: Config, episode) -> jax.Array:
    """eps_start -> epsilon linearly over eps_decay_episodes episodes of each actor, then flat."""
    frac = jnp.clip(jnp.asarray(episode, jnp.float32) / cfg.eps_decay_episodes, 0.0, 1.0)
    return jnp.float32(cfg.eps_start) + frac * jnp.float32(cfg.epsilon - cfg.eps_start)


def _check_env(env) -> None:
    if not (hasattr(env, "stored_obs") and hasattr(env, "render_stored")):
        raise ValueError(f"dqn: env {getattr(env, 'name', env)!r} has no stored_obs/render_stored "
                         "(the replay stores renderer state, not frames); only watermaze does")


def _network(cfg: Config, env) -> ResNetQ:
    return ResNetQ(env.num_actions, tuple(cfg.channels), cfg.blocks, cfg.hidden)


def _act_step(cfg: Config, env, net):
    """-> step((params, env_state, obs, eps, env_params), (bits_N, key)) scanned by the actors."""
    v_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    v_stored = jax.vmap(env.stored_obs)
    v_select = jax.vmap(select_action, in_axes=(0, 0, None))

    def step(carry, inp):
        params, env_state, obs, eps, env_params = carry
        bits_N, key = inp
        action = v_select(net.apply(params, obs), bits_N, eps)
        N = action.shape[0]
        obs2, env_state2, reward, _, trunc, info = v_step(
            jax.random.split(key, N), env_state, action, env_params)
        rec = Step(obs=v_stored(env_state), next_obs=v_stored(info["final_state"]),
                   action=action, reward=reward.astype(jnp.float32), last=trunc)
        return (params, env_state2, obs2, eps, env_params), rec

    return step


def _streams(hist: History) -> History:
    """[iterations, N, period, ...] -> [N, iterations * period, ...]."""
    return jax.tree.map(lambda x: jnp.moveaxis(x, 1, 0).reshape(x.shape[1], -1, *x.shape[3:]),
                        hist)


def make_train(cfg: Config, env):
    """-> train(key, env_params) -> (DQNState, History[num_actors, num_episodes * L]) with
    History.obs the stored renderer state float32[..., 3] of each step (not frames).
    `train.init(key, env_params)` and `train.run(state, key, env_params, num_iters)` are its two
    halves, for runs in segments (not the same keys as one `train` call)."""
    check_config(cfg)
    _check_env(env)
    net = _network(cfg, env)
    tx = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(cfg.lr))
    N, R, P, L = cfg.num_actors, cfg.rollout, cfg.period, env.episode_len
    T = cfg.num_episodes * L
    if T < R:
        raise ValueError(f"dqn: {cfg.num_episodes} episodes of {L} steps are shorter than one "
                         f"rollout ({R})")
    n_iters, n_warm = -(-T // P), -(-R // P)  # warm-up: fill each actor's first rollout
    n_on = cfg.num_online
    n_off = cfg.batch_size - n_on
    buffer = flashbax.make_trajectory_buffer(
        add_batch_size=N, sample_batch_size=max(n_off, 1), sample_sequence_length=R, period=P,
        min_length_time_axis=R, max_length_time_axis=cfg.replay_size // N)
    act = _act_step(cfg, env, net)
    render = jax.vmap(jax.vmap(env.render_stored))  # [B, R, 3] -> [B, R, H, W, C]
    v_returns = jax.vmap(q_lambda_returns)

    def loss_fn(params, target, batch: Step):
        q_next = net.apply(target, render(batch.next_obs))
        lam = jnp.where(batch.last, 0.0, cfg.lam).astype(jnp.float32)
        returns = v_returns(batch.reward, jnp.full(batch.reward.shape, cfg.gamma, jnp.float32),
                            q_next, lam)
        return q_lambda_loss(net.apply(params, render(batch.obs)), batch.action, returns)

    def learn(state: DQNState, key) -> DQNState:
        k_on, k_off = jax.random.split(key)
        parts = []
        if n_on:
            rows = jax.random.choice(k_on, N, (n_on,), replace=False)
            parts.append(jax.tree.map(lambda x: x[rows], state.window))
        if n_off:
            with jax.numpy_rank_promotion("allow"):  # flashbax broadcasts implicitly
                parts.append(buffer.sample(state.replay, k_off).experience)
        batch = jax.tree.map(lambda *xs: jnp.concatenate(xs), *parts)
        grads = jax.grad(loss_fn)(state.params, state.target, batch)
        upd, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, upd)
        updates = state.updates + 1
        copy = updates % cfg.target_period == 0
        target = jax.tree.map(lambda p, t: jnp.where(copy, p, t), params, state.target)
        return state.replace(params=params, target=target, opt_state=opt_state, updates=updates)

    def iteration(with_learning: bool):
        def body(carry, key):
            state, env_params = carry
            k_bits, k_env, k_learn = jax.random.split(key, 3)
            eps = epsilon(cfg, state.steps // L)
            (_, env_state, obs, _, _), rec = jax.lax.scan(
                act, (state.params, state.env_state, state.obs, eps, env_params),
                (jax.random.bits(k_bits, (P, N), jnp.uint32), jax.random.split(k_env, P)))
            rec = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), rec)  # [N, P]
            window = jax.tree.map(lambda w, x: jnp.concatenate([w[:, P:], x], axis=1)[:, -R:],
                                  state.window, rec)
            with jax.numpy_rank_promotion("allow"):
                replay = buffer.add(state.replay, rec)
            state = state.replace(replay=replay, window=window,
                                  env_state=env_state, obs=obs, steps=state.steps + P)
            if with_learning:
                state = learn(state, k_learn)
            return (state, env_params), History(obs=rec.obs, actions=rec.action,
                                                rewards=rec.reward)

        return body

    def init(key, env_params) -> DQNState:
        """A fresh learner with its actors reset and each actor's first rollout in the replay
        (the warm-up: no updates until every actor has one); -> (state, History of those steps
        [N, n_warm * period])."""
        k_init, k_reset, k_warm = jax.random.split(key, 3)
        obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(k_reset, N), env_params)
        params = net.init(k_init, obs[:1])
        zero = Step(obs=jnp.zeros(3, jnp.float32), next_obs=jnp.zeros(3, jnp.float32),
                    action=jnp.int32(0), reward=jnp.float32(0), last=jnp.bool_(False))
        state = DQNState(
            params=params, target=params, opt_state=tx.init(params), replay=buffer.init(zero),
            window=jax.tree.map(lambda x: jnp.zeros((N, R, *x.shape), x.dtype), zero),
            env_state=env_state, obs=obs, steps=jnp.int32(0), updates=jnp.int32(0))
        (state, _), warm = jax.lax.scan(iteration(False), (state, env_params),
                                        jax.random.split(k_warm, n_warm))
        return state, _streams(warm)

    def run(state: DQNState, key, env_params, num_iters: int):
        """num_iters more iterations (each: `period` steps per actor, one update)."""
        (state, _), hist = jax.lax.scan(iteration(True), (state, env_params),
                                        jax.random.split(key, num_iters))
        return state, _streams(hist)

    def train(key, env_params):
        k_init, k_run = jax.random.split(key)
        state, warm = init(k_init, env_params)
        state, hist = run(state, k_run, env_params, n_iters - n_warm)
        hist = jax.tree.map(lambda a, b: jnp.concatenate([a, b], axis=1)[:, :T], warm, hist)
        return state, hist

    train.init, train.run = init, run  # for runs in segments (experiments/watermaze)
    return train


def make_expert(cfg: Config, env, num_episodes: int, num_streams: int = 1):
    """-> expert(key, final_state, env_params) -> History[num_streams, num_episodes * L]: the
    final Q-network acted on epsilon-greedily with expert_eps, no learning; obs as in make_train."""
    check_config(cfg)
    _check_env(env)
    act = _act_step(cfg, env, _network(cfg, env))
    T = num_episodes * env.episode_len

    def expert(key, final_state: DQNState, env_params):
        k_reset, k_bits, k_run = jax.random.split(key, 3)
        obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(k_reset, num_streams), env_params)
        carry = (final_state.params, env_state, obs, jnp.float32(cfg.expert_eps), env_params)
        _, rec = jax.lax.scan(act, carry, (jax.random.bits(k_bits, (T, num_streams), jnp.uint32),
                                           jax.random.split(k_run, T)))
        hist = History(obs=rec.obs, actions=rec.action, rewards=rec.reward)
        return jax.tree.map(lambda x: jnp.moveaxis(x, 1, 0), hist)

    return expert
