"""RL² meta-training: A2C on an LSTM (or a transformer) over parallel trials, purejaxrl style;
run dir, checkpoints.

One update (`Trainer.update`, a pure function of the state and the training task pool; its key is
fold_in(fold_in(key(seed), 1), update), so a resumed run draws the same numbers): `unroll` steps
of all trials in a `lax.scan` (tasks are drawn from the pool, env, network state and a_{t-1},
r_{t-1} reset at the first step of every trial), GAE over the unroll (the trial end is terminal,
episode ends inside a trial are not), the loss replays the unroll (LSTM: from the state it started
with, truncated BPTT over the unroll; transformer: one causal pass over the trial so far,
`adjax.rl2.transformer`), one Adam step (`algo` "ppo": `ppo_epochs` passes over the unroll's
trials in `ppo_minibatches` random groups, an Adam step on PPO's clipped surrogate per group,
`Trainer.ppo`). `Trainer.chunk` scans `n` updates in one jit call; `fit` runs chunks between logs
and checkpoints.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax import struct
from tqdm.auto import tqdm

from adjax import envs
from adjax.atomic import read_json, write_json
from adjax.checkpoints import (
    CONFIG,
    RunConfigError,
    changed,
    check_intact,
    checkpoint_manager,
    read_config,
    record_checksums,
    restore,
    resume,
    truncate_metrics,
)
from adjax.rl2.config import RESUMABLE_FIELDS, Config
from adjax.rl2.network import LSTMCore
from adjax.rl2.transformer import TransformerCore
from adjax.sources.a2c import a2c_loss, gae
from adjax.sources.common import obs_dims


@struct.dataclass
class RL2State:
    """Everything a resumed run needs: update count, learner, and every trial's live state (all
    trials share the step index t within the trial)."""

    update: jax.Array  # int32[]
    params: dict
    opt_state: optax.OptState
    env_state: struct.PyTreeNode  # batched over trials [N]
    obs: jax.Array  # int32[N, O], o_t of the next step
    prev_action: jax.Array  # int32[N]
    prev_reward: jax.Array  # float32[N]
    carry: struct.PyTreeNode | tuple  # network state: LSTM (c, h) pairs of float32[N, H] per
    # layer, or the transformer's TrialContext (KV cache and the trial's step inputs so far)
    tasks: jax.Array  # [N, *task_shape], the task of each trial
    t: jax.Array  # int32[], step within the trial of the next step


@struct.dataclass
class Transition:
    x: jax.Array | None  # float32[N, D], the LSTM's input (None for the transformer)
    reset: jax.Array  # bool[N], first step of a trial (LSTM state zeroed before it)
    action: jax.Array  # int32[N]
    reward: jax.Array  # float32[N]
    done: jax.Array  # float32[N], last step of a trial
    value: jax.Array  # float32[N]
    logp: jax.Array  # float32[N], log-probability of the action under the acting policy
    episode: jax.Array  # int32[], episode index within the trial


def advantages(rewards_TxN, values_TxN, last_value_N, done_TxN, gamma: float, lam: float):
    """GAE over an unroll of N trials -> (advantages [T, N], value targets [T, N]).

    values_TxN[t] = V(input t); last_value_N = V of the input after the unroll. A trial's last step
    (done) is terminal: no bootstrap and the recursion cut there."""
    next_values = jnp.concatenate([values_TxN[1:], last_value_N[None]], axis=0)
    return jax.vmap(gae, in_axes=(1, 1, 1, 1, 1, None, None), out_axes=1)(
        rewards_TxN, values_TxN, next_values, done_TxN, done_TxN, gamma, lam)


def normalised(adv):
    """Advantages scaled to mean 0, standard deviation 1 over the batch (`Config.norm_adv`)."""
    return (adv - adv.mean()) / (adv.std() + 1e-8)


def task_pool(cfg: Config) -> np.ndarray:
    """The training tasks trials are drawn from: the grid's train set (or its first
    num_train_tasks), or num_train_tasks (default 10_000) bandit draws of the train split."""
    if envs.has_task_sets(cfg.env):
        ids = None if cfg.num_train_tasks is None else np.arange(cfg.num_train_tasks)
    else:
        ids = np.arange(10_000 if cfg.num_train_tasks is None else cfg.num_train_tasks)
    return envs.tasks_for(cfg.env, "train", ids)[0]


class Trainer:
    """Compiled pieces of one (config, env): `init(pool) -> state`, `chunk(state, pool, n)`."""

    def __init__(self, cfg: Config, env):
        self.cfg, self.env = cfg, env
        self.dims = obs_dims(env)
        self.L = env.episode_len
        self.T = cfg.trial_len(self.L)
        core = TransformerCore if cfg.network == "transformer" else LSTMCore
        self.core = core(cfg, env, self.dims)  # raises on a config the network cannot take
        self.net = self.core.net
        self.tx = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm),
                              optax.adam(cfg.lr, eps=cfg.adam_eps))
        self.init = jax.jit(self._init)
        self.chunk = jax.jit(self._chunk, static_argnums=2)

    # -- pieces --------------------------------------------------------------------------------
    def _params_of(self, tasks):
        base = self.env.default_params
        return jax.vmap(lambda t: self.env.with_task(base, t))(tasks)

    def _init(self, pool):
        cfg, N = self.cfg, self.cfg.num_trials
        root = jax.random.key(cfg.seed)
        params = self.core.init(jax.random.fold_in(root, 0))
        tasks = jnp.zeros((N, *pool.shape[1:]), pool.dtype)  # replaced at the first step (t = 0)
        obs, env_state = jax.vmap(self.env.reset)(
            jax.random.split(jax.random.fold_in(root, 2), N), self._params_of(tasks))
        return RL2State(update=jnp.int32(0), params=params, opt_state=self.tx.init(params),
                        env_state=env_state, obs=obs,
                        prev_action=jnp.full((N,), self.env.num_actions, jnp.int32),
                        prev_reward=jnp.zeros((N,), jnp.float32),
                        carry=self.core.zero_carry(N), tasks=tasks, t=jnp.int32(0))

    def env_step(self, params, pool, rs: RL2State, key):
        """One step of every trial -> (state, Transition); a trial starts where rs.t == 0."""
        N, A = self.cfg.num_trials, self.env.num_actions
        k_task, k_reset, k_act, k_env = jax.random.split(key, 4)
        start = rs.t == 0
        new_tasks = pool[jax.random.randint(k_task, (N,), 0, pool.shape[0])]
        tasks = jnp.where(start, new_tasks, rs.tasks)
        env_params = self._params_of(tasks)
        obs0, es0 = jax.vmap(self.env.reset)(jax.random.split(k_reset, N), env_params)
        env_state = jax.tree.map(lambda a, b: jnp.where(start, a, b), es0, rs.env_state)
        obs = jnp.where(start, obs0, rs.obs)
        prev_a = jnp.where(start, A, rs.prev_action)
        prev_r = jnp.where(start, 0.0, rs.prev_reward)
        carry, logits, value, x = self.core.act(params, rs.carry, obs, prev_a, prev_r, rs.t, start)
        reset = jnp.broadcast_to(start, (N,))
        action = jax.random.categorical(k_act, logits).astype(jnp.int32)
        obs2, env_state, reward, _, _, _ = jax.vmap(self.env.step)(
            jax.random.split(k_env, N), env_state, action, env_params)
        reward = reward.astype(jnp.float32)
        t2 = (rs.t + 1) % self.T
        logp = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=1)[:, 0]
        tr = Transition(x=x, reset=reset, action=action, reward=reward,
                        done=jnp.broadcast_to(t2 == 0, (N,)).astype(jnp.float32), value=value,
                        logp=logp, episode=rs.t // self.L)
        rs = rs.replace(env_state=env_state, obs=obs2, prev_action=action, prev_reward=reward,
                        carry=carry, tasks=tasks, t=t2)
        return rs, tr

    def rollout(self, rs: RL2State, pool, key):
        """`unroll` steps -> (state after, Transition [U, N], V of the next input [N])."""
        rs2, tr = jax.lax.scan(lambda s, k: self.env_step(rs.params, pool, s, k), rs,
                               jax.random.split(key, self.cfg.unroll))
        # V of the next input; unused (and, for the transformer, past its cache) when the
        # unroll ended its trials: the trial's last step is terminal
        _, _, last_value, _ = self.core.act(rs.params, rs2.carry, rs2.obs, rs2.prev_action,
                                            rs2.prev_reward, rs2.t, jnp.bool_(False))
        return rs2, tr, last_value

    def loss(self, params, carry0, carry1, t0, tr: Transition, adv, targets):
        """A2C loss of an unroll replayed by the network: from the LSTM state it started with,
        or from the trial so far (transformer; carry1 = the state after the unroll)."""
        logits, values = self.core.replay(params, carry0, carry1, tr.x, tr.reset, t0)
        A = logits.shape[-1]
        return a2c_loss(logits.reshape(-1, A), values.reshape(-1), tr.action.reshape(-1),
                        adv.reshape(-1), targets.reshape(-1), self.cfg.ent_coef, self.cfg.vf_coef)

    def ppo_loss(self, params, carry0, t0, tr: Transition, adv, targets):
        """PPO's clipped surrogate of a minibatch of trials replayed from the LSTM state their
        unroll started with, plus the value and entropy terms of `a2c_loss`."""
        cfg = self.cfg
        logits, values = self.core.replay(params, carry0, None, tr.x, tr.reset, t0)
        logp_all = jax.nn.log_softmax(logits)
        logp = jnp.take_along_axis(logp_all, tr.action[..., None], axis=-1)[..., 0]
        adv = normalised(adv) if cfg.norm_adv else adv
        ratio = jnp.exp(logp - tr.logp)
        clipped = jnp.clip(ratio, 1.0 - cfg.clip_eps, 1.0 + cfg.clip_eps)
        pg = -jnp.mean(jnp.minimum(ratio * adv, clipped * adv))
        vf = jnp.mean(jnp.square(values - targets))
        ent = jnp.mean(-jnp.sum(jnp.exp(logp_all) * logp_all, axis=-1))
        return pg + cfg.vf_coef * vf - cfg.ent_coef * ent, (pg, vf, ent)

    def ppo(self, rs: RL2State, tr: Transition, adv, targets, key):
        """ppo_epochs passes over the unroll's trials in ppo_minibatches random groups, one Adam
        step per group -> (params, opt_state, (loss, pg, vf, ent, grad norm) means)."""
        cfg = self.cfg
        N, M = cfg.num_trials, cfg.ppo_minibatches
        trials = lambda a, idx: a[:, idx] if a.ndim >= 2 else a  # [U, N, ...]; episode is [U]

        def minibatch(state, idx):
            params, opt_state = state
            carry0 = jax.tree.map(lambda a: a[idx], rs.carry)
            sub = jax.tree.map(lambda a: trials(a, idx), tr)
            (loss, (pg, vf, ent)), grads = jax.value_and_grad(self.ppo_loss, has_aux=True)(
                params, carry0, rs.t, sub, adv[:, idx], targets[:, idx])
            updates, opt_state = self.tx.update(grads, opt_state, params)
            return ((optax.apply_updates(params, updates), opt_state),
                    jnp.stack([loss, pg, vf, ent, optax.tree.norm(grads)]))

        def epoch(state, k):
            return jax.lax.scan(minibatch, state, jax.random.permutation(k, N).reshape(M, -1))

        (params, opt_state), stats = jax.lax.scan(
            epoch, (rs.params, rs.opt_state), jax.random.split(key, cfg.ppo_epochs))
        return params, opt_state, stats.mean(axis=(0, 1))

    def update(self, rs: RL2State, pool):
        cfg = self.cfg
        key = jax.random.fold_in(jax.random.fold_in(jax.random.key(cfg.seed), 1), rs.update)
        rs2, tr, last_value = self.rollout(rs, pool, key)
        adv, targets = advantages(tr.reward, tr.value, last_value, tr.done, cfg.gamma,
                                  cfg.gae_lambda)
        if cfg.algo == "ppo":  # minibatches are drawn with a key of their own
            params, opt_state, (loss, pg, vf, ent, grad_norm) = self.ppo(
                rs, tr, adv, targets, jax.random.fold_in(key, 1))
        else:
            adv = normalised(adv) if cfg.norm_adv else adv
            (loss, (pg, vf, ent)), grads = jax.value_and_grad(self.loss, has_aux=True)(
                rs.params, rs.carry, rs2.carry, rs.t, tr, adv, targets)
            updates, opt_state = self.tx.update(grads, rs.opt_state, rs.params)
            params = optax.apply_updates(rs.params, updates)
            grad_norm = optax.tree.norm(grads)
        E = cfg.episodes_per_trial
        r_mean = tr.reward.mean(axis=1)  # [U]
        metrics = {"loss": loss, "pg_loss": pg, "vf_loss": vf, "entropy": ent,
                   "grad_norm": grad_norm, "reward": r_mean.mean(),
                   "ep_reward": jnp.zeros(E).at[tr.episode].add(r_mean),
                   "ep_steps": jnp.zeros(E).at[tr.episode].add(1.0)}
        rs2 = rs2.replace(params=params, opt_state=opt_state, update=rs.update + 1)
        return rs2, metrics

    def _chunk(self, rs: RL2State, pool, n: int):
        return jax.lax.scan(lambda s, _: self.update(s, pool), rs, None, length=n)


@functools.cache
def _trainer(core: Config, env) -> Trainer:
    return Trainer(core, env)


def trainer(cfg: Config, env=None) -> Trainer:
    """The (memoised) Trainer of a config: runs differing only in resumable fields share it."""
    return _trainer(cfg.core(), env if env is not None else envs.make(cfg.env)[0])


# -- run directory -----------------------------------------------------------------------------
def _write_or_check_config(run_dir: Path, config: dict) -> None:
    path = run_dir / "config.json"
    config = json.loads(json.dumps(config))
    if not path.exists():
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(path, config, indent=2)
        return
    old = read_json(path, RunConfigError)
    diff = changed(old["rl2"], config["rl2"], ignore=RESUMABLE_FIELDS)
    if diff or old.get("env_config") != config["env_config"]:
        raise RunConfigError(f"{path}: resuming with another config (old, new): {diff}")
    if old != config:
        write_json(path, config, indent=2)


def _record(cfg: Config, episode_len: int, update: int, ms: list[dict], dt: float) -> dict:
    n = sum(len(m["loss"]) for m in ms)
    cat = {k: np.concatenate([m[k] for m in ms]) for k in ms[0]}
    ep = cat["ep_reward"].sum(0) / np.maximum(cat["ep_steps"].sum(0), 1) * episode_len
    seen = cat["ep_steps"].sum(0) > 0
    rec = {"update": update, "env_steps": update * cfg.steps_per_update(), "time": time.time(),
           "env_steps_per_s": n * cfg.steps_per_update() / dt,
           "return": float(cat["reward"].mean() * episode_len)}
    for k in ("loss", "pg_loss", "vf_loss", "entropy", "grad_norm"):
        rec[k] = float(cat[k].mean())
    rec["return_by_episode"] = [round(float(v), 4) if s else None for v, s in zip(ep, seen,
                                                                                  strict=True)]
    return rec


def fit(cfg: Config, run_dir, *, stop_at: int | None = None, progress: bool = True, env=None,
        pool=None, max_seconds: float | None = None) -> RL2State:
    """Meta-train (or resume) in run_dir until cfg.num_updates (or stop_at) -> final state.

    max_seconds: a wall-time budget for this call's training: at the first log boundary
    (log_every updates) past it, the state is logged, checkpointed and returned (the same
    command resumes from there, as from any checkpoint).

    env / pool: another env object or training task pool (tests); default `envs.make(cfg.env)`
    and `task_pool(cfg)`. Writes config.json, metrics.jsonl (one record per log_every updates:
    mean return per episode over the window, per episode of the trial, losses, env-steps/s) and
    orbax checkpoints every ckpt_every updates and at the end; resumes from the latest.
    """
    if max_seconds is not None and max_seconds < 0:
        raise ValueError(f"max_seconds must be >= 0, got {max_seconds}")
    run_dir = Path(run_dir)
    env = env if env is not None else envs.make(cfg.env)[0]
    pool = jnp.asarray(task_pool(cfg) if pool is None else pool)
    _write_or_check_config(run_dir, {"rl2": cfg.to_dict(), "env_config": env.config(),
                                     "num_pool_tasks": int(pool.shape[0]),
                                     "episode_len": env.episode_len,
                                     "num_actions": env.num_actions})
    tr = trainer(cfg, env)
    task_shape, task_dtype = pool.shape[1:], pool.dtype
    mgr, state = resume(run_dir, cfg.max_to_keep,
                        lambda mgr, step_: restore_state(mgr, step_, tr, task_shape, task_dtype))
    metrics_path = run_dir / "metrics.jsonl"
    if state is not None:
        truncate_metrics(metrics_path, mgr.latest_step(), key="update")
    else:
        state = tr.init(pool)
        truncate_metrics(metrics_path, -1, key="update")
    end = min(cfg.num_updates, stop_at or cfg.num_updates)
    update = int(state.update)
    bar = tqdm(total=end, initial=update, disable=not progress, desc="rl2", unit="update",
               mininterval=1.0)
    acc, t_log = [], time.perf_counter()
    t_start, over = t_log, False
    try:
        while update < end and not over:
            nxt = min(end, (update // cfg.log_every + 1) * cfg.log_every,
                      (update // cfg.ckpt_every + 1) * cfg.ckpt_every)
            new_state, m = tr.chunk(state, pool, nxt - update)
            m = jax.tree.map(np.asarray, m)
            if not (np.all(np.isfinite(m["loss"])) and np.all(np.isfinite(m["grad_norm"]))):
                mgr.wait_until_finished()
                raise FloatingPointError(
                    f"non-finite loss/gradient between updates {update} and {nxt}; stopped, the "
                    f"last good checkpoint ({mgr.latest_step()}) is kept")
            state, update = new_state, nxt
            acc.append(m)
            bar.update(len(m["loss"]))
            bar.set_postfix(ret=f"{m['reward'].mean() * env.episode_len:.2f}")
            over = max_seconds is not None and time.perf_counter() - t_start >= max_seconds
            if update % cfg.log_every == 0 or update == end or over:
                rec = _record(cfg, env.episode_len, update, acc, time.perf_counter() - t_log)
                with metrics_path.open("a") as f:
                    f.write(json.dumps(rec) + "\n")
                acc, t_log = [], time.perf_counter()
            if update % cfg.ckpt_every == 0 or update == end or over:
                mgr.save(update, args=ocp.args.StandardSave(state))
                record_checksums(mgr, run_dir, update)
    finally:
        bar.close()
        mgr.wait_until_finished()
        mgr.close()
    return state


def restore_state(mgr, step_: int, tr: Trainer, task_shape, task_dtype) -> RL2State:
    """Checkpoint `step_`'s whole state onto this process's first device (`checkpoints.restore`
    names what fails)."""
    abstract = jax.eval_shape(tr.init, jax.ShapeDtypeStruct((1, *task_shape), task_dtype))
    sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
                            abstract)
    return restore(mgr, step_, abstract)


def env_of(config: dict):
    """The env a run was trained on, from its config.json dict."""
    name = config["rl2"]["env"]
    env, _ = envs.make(name)
    if env.config() != config["env_config"]:
        env, _ = envs.make(name, **{k: v for k, v in config["env_config"].items()
                                    if k != "hard"})
    return env


def load_run(run_dir, step_: int | None = None):
    """-> (Config, env, params, config.json dict with "update") of a run's latest checkpoint
    (or of update step_'s)."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    if "rl2" not in config:
        raise RunConfigError(f"{run_dir / CONFIG}: not an RL² run (no \"rl2\" settings)")
    cfg = Config.from_dict(config["rl2"])
    env = env_of(config)
    mgr = checkpoint_manager(run_dir, cfg.max_to_keep)
    kept = sorted(mgr.all_steps())
    if step_ is None and kept:
        step_ = kept[-1]
    if step_ not in kept:
        mgr.close()
        raise RunConfigError(f"{run_dir / 'checkpoints'}: " + (
            "no checkpoint to load" if step_ is None
            else f"no checkpoint of update {step_}; kept: {kept or 'none'}"))
    check_intact(run_dir, step_)
    task = env.default_params.task
    state = restore_state(mgr, step_, trainer(cfg, env), task.shape, task.dtype)
    mgr.close()
    return cfg, env, state.params, {**config, "update": step_}
