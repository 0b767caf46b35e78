"""Synchronous advantage actor-critic (A2C; the paper's A3C, Mnih et al. 2016, run in lock-step).

num_actors actors per task share one learner; each actor's stream is its own learning history.
Network: one-hot per observation coordinate (or, where datasets store renderer state, the env's
state features: `adjax.sources.common.observer`) -> shared MLP torso (3 x 128, tanh) -> policy
logits and value heads. One Adam step per unroll of `unroll` steps from all actors (unroll 20 =
one Dark Room episode). Episodes end by time limit: the value of the pre-reset observation is
bootstrapped.
"""

from dataclasses import dataclass
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from adjax.initializers import orthogonal
from adjax.sources.common import History, observer


@dataclass(frozen=True)
class Config:
    """Paper values; unroll, vf_coef and grad clip are ours.

    lr is the paper's 1e-4. Measured on 4 Dark Room training goals x 100 actors, 1000 updates
    (= 1000 episodes per actor): the last 10% of episodes reach 61% of the optimal return with
    lr 1e-4 (still rising) and 92% with lr 1e-3 (CLI: `--source a2c --set lr=0.001`).
    """

    NAME: ClassVar[str] = "a2c"
    num_actors: int = 100
    num_updates: int = 1000  # one update per unroll; episodes per stream = updates * unroll / L
    unroll: int = 20
    lr: float = 1e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 40.0  # A3C's usual clip; ours
    hidden: tuple[int, ...] = (128, 128, 128)
    adam_b1: float = 0.9
    adam_b2: float = 0.999
    adam_eps: float = 1e-6
    expert_greedy: bool = False  # expert rollouts: argmax instead of sampling


class ActorCritic(nn.Module):
    """float32[..., D] -> (logits float32[..., A], value float32[...])."""

    num_actions: int
    hidden: tuple[int, ...]

    @nn.compact
    def __call__(self, x):
        for h in self.hidden:
            x = nn.tanh(nn.Dense(h)(x))
        # flax's orthogonal initialiser without LAPACK: vmapped over tasks, LAPACK's batched QR
        # can deadlock XLA:CPU's thread pool (adjax.initializers).
        logits = nn.Dense(self.num_actions, kernel_init=orthogonal(0.01))(x)
        value = nn.Dense(1, kernel_init=orthogonal(1.0))(x)[..., 0]
        return logits, value


@struct.dataclass
class Transition:
    obs: jax.Array  # [N, O]: the observer's record (the observation, or stored renderer state)
    action: jax.Array  # int32[N]
    reward: jax.Array  # float32[N]
    terminated: jax.Array  # float32[N]
    done: jax.Array  # float32[N], terminated or truncated
    boot_obs: jax.Array  # [N, O], the record of the next observation before any auto-reset


@struct.dataclass
class A2CState:
    params: dict
    opt_state: optax.OptState
    env_state: struct.PyTreeNode  # batched over actors
    obs: jax.Array  # [N, O], the observer's record of each actor's current observation
    update: jax.Array  # int32 scalar


def gae(rewards_T, values_T, next_values_T, terminated_T, done_T, gamma, lam):
    """Generalised advantage estimation over one sequence -> (advantages_T, value targets_T).

    next_values_T[t] is V of the observation that followed step t (pre-reset); the recursion is cut
    where done_T, and the bootstrap is dropped only where terminated_T.
    """
    assert rewards_T.ndim == 1, rewards_T.shape
    deltas = rewards_T + gamma * (1.0 - terminated_T) * next_values_T - values_T

    def back(acc, x):
        delta, done = x
        acc = delta + gamma * lam * (1.0 - done) * acc
        return acc, acc

    _, adv = jax.lax.scan(back, jnp.zeros_like(deltas[0]), (deltas, done_T), reverse=True)
    return adv, adv + values_T


def a2c_loss(logits_TxA, values_T, actions_T, advantages_T, targets_T, ent_coef, vf_coef):
    """-> (total, (pg, vf, ent)): -E[logpi(a) A] + vf_coef E[(V - G)^2] - ent_coef E[H]."""
    assert logits_TxA.ndim == 2, logits_TxA.shape
    logp_TxA = jax.nn.log_softmax(logits_TxA)
    logp_a = jnp.take_along_axis(logp_TxA, actions_T[:, None], axis=1)[:, 0]
    policy = -jnp.mean(logp_a * jax.lax.stop_gradient(advantages_T))
    value = jnp.mean(jnp.square(values_T - jax.lax.stop_gradient(targets_T)))
    entropy = jnp.mean(-jnp.sum(jnp.exp(logp_TxA) * logp_TxA, axis=-1))
    return policy + vf_coef * value - ent_coef * entropy, (policy, value, entropy)


def _optimizer(cfg: Config):
    return optax.chain(
        optax.clip_by_global_norm(cfg.max_grad_norm),
        optax.adam(cfg.lr, b1=cfg.adam_b1, b2=cfg.adam_b2, eps=cfg.adam_eps),
    )


def make_train(cfg: Config, env):
    """-> train(key, env_params) -> (A2CState, History[num_actors, num_updates * unroll])."""
    obs_fn = observer(env)
    net = ActorCritic(env.num_actions, cfg.hidden)
    tx = _optimizer(cfg)
    N = cfg.num_actors
    encode = jax.vmap(obs_fn.features)
    record = jax.vmap(obs_fn.record)
    v_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def act(params, obs_NxO, key):
        logits, _ = net.apply(params, encode(obs_NxO))
        return jax.random.categorical(key, logits).astype(jnp.int32)

    def env_step(carry, key):
        state, env_params = carry
        k_act, k_env = jax.random.split(key)
        action = act(state.params, state.obs, k_act)
        obs, env_state, reward, term, trunc, info = v_step(
            jax.random.split(k_env, N), state.env_state, action, env_params
        )
        tr = Transition(
            obs=state.obs, action=action, reward=reward.astype(jnp.float32),
            terminated=term.astype(jnp.float32),
            done=jnp.logical_or(term, trunc).astype(jnp.float32),
            boot_obs=record(info["final_observation"], info.get("final_state")),
        )
        return (state.replace(env_state=env_state, obs=record(obs, env_state)), env_params), tr

    L, U = env.episode_len, cfg.unroll
    # Fixed-length episodes (docs/conventions.md) started together: when unroll is a multiple of the
    # episode length, the steps that end an episode are the static rows L-1, 2L-1, ..., and only
    # they need V(pre-reset observation); elsewhere that value is V(obs[t + 1]), already computed.
    end_rows = np.arange(L - 1, U, L) if U % L == 0 else None

    def loss_fn(params, tr):
        flat = lambda o: encode(o.reshape(-1, o.shape[-1])).reshape(*o.shape[:-1], -1)
        logits, values = net.apply(params, flat(tr.obs))  # [U, N, A], [U, N]
        if end_rows is None:
            _, next_values = net.apply(params, flat(tr.boot_obs))
        else:
            _, v_end = net.apply(params, flat(tr.boot_obs[end_rows]))
            next_values = jnp.concatenate([values[1:], values[:1]]).at[end_rows].set(v_end)
        adv, targets = jax.vmap(gae, in_axes=(1, 1, 1, 1, 1, None, None), out_axes=1)(
            tr.reward, values, jax.lax.stop_gradient(next_values), tr.terminated, tr.done,
            cfg.gamma, cfg.gae_lambda,
        )
        A = logits.shape[-1]
        return a2c_loss(logits.reshape(-1, A), values.reshape(-1), tr.action.reshape(-1),
                        adv.reshape(-1), targets.reshape(-1), cfg.ent_coef, cfg.vf_coef)

    def update(carry, key):
        state, env_params = carry
        (state, _), tr = jax.lax.scan(
            env_step, (state, env_params), jax.random.split(key, cfg.unroll)
        )
        grads, _ = jax.grad(loss_fn, has_aux=True)(state.params, tr)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        state = state.replace(params=params, opt_state=opt_state, update=state.update + 1)
        return (state, env_params), History(obs=tr.obs, actions=tr.action, rewards=tr.reward)

    def train(key, env_params):
        k_init, k_reset, k_run = jax.random.split(key, 3)
        params = net.init(k_init, jnp.zeros((obs_fn.dim,), jnp.float32))
        obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(k_reset, N), env_params
        )
        state = A2CState(params=params, opt_state=tx.init(params), env_state=env_state,
                         obs=record(obs, env_state), update=jnp.int32(0))
        (state, _), hist = jax.lax.scan(
            update, (state, env_params), jax.random.split(k_run, cfg.num_updates)
        )
        # [updates, unroll, N, ...] -> [N, updates * unroll, ...]
        hist = jax.tree.map(
            lambda x: jnp.moveaxis(x, 2, 0).reshape(N, -1, *x.shape[3:]), hist
        )
        return state, hist

    return train


def make_expert(cfg: Config, env, num_episodes: int, num_streams: int = 1):
    """-> expert(key, final_state, env_params) -> History[num_streams, num_episodes * L]:
    the final policy rolled out (sampled, or argmax if cfg.expert_greedy), no learning."""
    obs_fn = observer(env)
    net = ActorCritic(env.num_actions, cfg.hidden)
    encode = jax.vmap(obs_fn.features)
    record = jax.vmap(obs_fn.record)
    v_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def expert(key, final_state: A2CState, env_params):
        def step(carry, key):
            obs, env_state = carry
            k_act, k_env = jax.random.split(key)
            logits, _ = net.apply(final_state.params, encode(obs))
            sampled = jax.random.categorical(k_act, logits)
            action = (jnp.argmax(logits, -1) if cfg.expert_greedy else sampled).astype(jnp.int32)
            obs2, env_state, reward, *_ = v_step(
                jax.random.split(k_env, num_streams), env_state, action, env_params
            )
            return (record(obs2, env_state), env_state), History(
                obs=obs, actions=action, rewards=reward.astype(jnp.float32))

        k_reset, k_run = jax.random.split(key)
        obs0, state0 = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(k_reset, num_streams), env_params
        )
        init = (record(obs0, state0), state0)
        T = num_episodes * env.episode_len
        _, hist = jax.lax.scan(step, init, jax.random.split(k_run, T))
        return jax.tree.map(lambda x: jnp.moveaxis(x, 1, 0), hist)

    return expert

