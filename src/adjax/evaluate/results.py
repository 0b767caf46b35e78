"""Evaluate over tasks x seeds, summarise with a 95% interval over seeds; JSON and a figure."""

from __future__ import annotations

import dataclasses
import functools
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from adjax import devices, distributed, envs
from adjax.atomic import read_json, save_figure, write_json
from adjax.checkpoints import latest_step
from adjax.evaluate import partial
from adjax.evaluate.agents import load_agent
from adjax.evaluate.baselines import (
    optimal_returns,
    random_policy,
    source_from_scratch,
    source_step_curve,
)
from adjax.evaluate.loop import in_context
from adjax.stats import log_bins, mean_ci

# Task x seed pairs per compiled evaluation call. On this 2-core CPU a transformer agent evaluates
# fastest in small chunks, whose KV caches stay in cache memory (ms per pair-episode at 8 / 24 /
# 48 / 97 / 145 pairs per call: Dark Room Hard, context 160: 1.36 / 1.43 / 1.58 / 2.45 / 2.49;
# Key-to-Door, context 100: 0.99 / 0.90 / 0.95 / -- / 1.43 at 100). Results do not depend on it
# (tested). On an accelerator raise it to the thousands.
DEFAULT_BATCH = 24

INTERVAL = ("95% t-interval over evaluation seeds: for each seed, the return averaged over tasks; "
            "mean +- t(0.975, S-1) * sd / sqrt(S) across the S seeds (null when S = 1)")


def pair_keys(key, num_tasks: int, num_seeds: int, task_ids=None):
    """Keys [N, S]: fold_in(fold_in(key, task_id), seed); adding tasks or seeds changes none."""
    ids = jnp.arange(num_tasks) if task_ids is None else jnp.asarray(task_ids)
    per_task = jax.vmap(lambda i: jax.random.fold_in(key, i))(ids)
    return jax.vmap(lambda k: jax.vmap(lambda s: jax.random.fold_in(k, s))(jnp.arange(num_seeds)))(
        per_task
    )


def pair_key(curve: str, task_id: int, seed: int, root_seed: int = 0) -> jax.Array:
    """The key `evaluate_run` (root seed `root_seed`) gives curve `curve` ("agent", "ed", ...) on
    task row `task_id` of a split and evaluation seed `seed` (its `pair_keys` entry), so a
    single rollout can repeat one evaluated pair."""
    key = jax.random.fold_in(jax.random.key(root_seed), CURVE_KEYS[curve])
    return jax.random.fold_in(jax.random.fold_in(key, task_id), seed)


def chunk_size(total: int, batch_size: int = DEFAULT_BATCH) -> int:
    """Pairs per compiled call: at most batch_size (rounded up to a multiple of the local
    devices, which split each chunk), chunks as even as possible (580 pairs at 512: two chunks
    of 290, not 512 + a 512 padded from 68)."""
    cap = devices.round_up(batch_size)
    return devices.round_up(-(-total // -(-total // cap)))  # ceil(total / number of chunks)


def chunks(total: int, batch_size: int = DEFAULT_BATCH) -> list[tuple[jax.Array, int]]:
    """(indices int32[chunk_size], real pairs) of each chunk, all of one size (so one
    compilation); the last is padded by repeating its final index."""
    size = chunk_size(total, batch_size)
    return [(jnp.minimum(jnp.arange(start, start + size), total - 1), min(size, total - start))
            for start in range(0, total, size)]


@functools.cache
def _batched(fn: Callable, env, task_batch: int | None = None) -> Callable:
    """jit(vmap(fn)) over (key, task) pairs, the agent shared (or task_batch pairs at a time on
    each device: `devices.map_tasks`); memoised per (fn, env, task_batch), so a second agent of
    the same shapes (another training seed, ED) reuses the compiled code."""
    if task_batch is None:
        return jax.jit(jax.vmap(lambda agent, k, params, t: fn(agent, k, env.with_task(params, t)),
                                in_axes=(None, 0, None, 0)))

    def run(agent, k, params, t):
        return devices.map_tasks(lambda k, t: fn(agent, k, env.with_task(params, t)),
                                 task_batch)(k, t)

    return jax.jit(run)


def over_tasks_and_seeds(fn: Callable, key, env, params, tasks, num_seeds: int,
                         batch_size: int = DEFAULT_BATCH,
                         on_chunk: Callable[[int], Any] | None = None, agent=None,
                         save_dir: Path | None = None,
                         task_batch: int | None = None) -> np.ndarray:
    """fn(agent, key, env_params) -> float32[E], for every task x seed -> float32[N, S, E].

    Pairs run in the jitted vmapped `chunks(pairs, batch_size)`; pass the same `fn` object
    (e.g. from `policy_fn`) to reuse compiled code across calls. `on_chunk(k)` is called after
    each chunk with its number of real pairs (a progress bar's update). In a multi-process job
    process p runs chunks p, p + P, ... and every process returns all of them (the same bits as
    one process: each pair's computation does not depend on where it runs).
    save_dir: each chunk's returns are saved there as it completes (`adjax.evaluate.partial`),
    and a chunk already saved is read instead of run again, so an interrupted evaluation resumes
    where it stopped with the same bits. The caller keeps the directory to one set of settings
    (`evaluate_run` does). task_batch: pairs run at a time on each device within a chunk
    (`devices.map_tasks`; None: the whole chunk vmapped): the same bits.
    """
    n = tasks.shape[0]
    keys = pair_keys(key, n, num_seeds).reshape(-1)
    task_idx = jnp.repeat(jnp.arange(n), num_seeds)
    run = _batched(fn, env, task_batch)
    agent, params = devices.replicate((agent, params))
    total = n * num_seeds
    outs, todo = [], chunks(total, batch_size)
    size = chunk_size(total, batch_size)
    for i in distributed.my_share(len(todo)):
        idx, real = todo[i]
        saved = None if save_dir is None else partial.chunk_path(save_dir, i * size, size)
        if saved is not None and saved.exists():
            outs.append(partial.read_chunk(saved, size))
        else:
            k_idx, t_idx = devices.shard_tasks((keys[idx], tasks[task_idx[idx]]))
            outs.append(np.asarray(run(agent, k_idx, params, t_idx)))
            if saved is not None:
                partial.save_chunk(saved, outs[-1])
        if on_chunk is not None:
            on_chunk(real)
    if jax.process_count() > 1:
        like = jax.eval_shape(run, agent, keys[todo[0][0]], params, tasks[task_idx[todo[0][0]]])
        outs = distributed.gather_shares(outs, len(todo), like)
    out = np.concatenate(outs)[:total]
    return out.reshape(n, num_seeds, -1)


def split_record(env_name: str, tasks, curves: dict, with_optimal: bool) -> dict:
    """One split of a results JSON: its tasks, curves and (where known) per-task optimum."""
    opt = optimal_returns(env_name, tasks) if with_optimal else None
    return {"tasks": np.asarray(tasks).tolist(), "num_tasks": int(tasks.shape[0]),
            "curves": curves,
            "optimal": None if opt is None else {"per_task": opt.tolist(),
                                                 "mean": float(opt.mean())}}


def summarize(returns_NxSxE: np.ndarray) -> dict:
    """Mean over tasks x seeds per episode, and the 95% t-interval over seeds (see INTERVAL)."""
    per_seed_SxE = np.asarray(returns_NxSxE, np.float64).mean(axis=0)
    s = per_seed_SxE.shape[0]
    mean, half = mean_ci(per_seed_SxE)
    out = {"mean": mean.tolist(), "lo": None, "hi": None,
           "final_mean": float(mean[-1]), "num_tasks": int(np.shape(returns_NxSxE)[0]),
           "num_seeds": s}
    if s > 1:
        out["lo"], out["hi"] = (mean - half).tolist(), (mean + half).tolist()
    return out


def plot(result: dict, path) -> None:
    """Return per episode, one panel per split: agent mean with its interval, baselines, optimum."""
    splits = result["splits"]
    fig = Figure(figsize=(6 * len(splits), 4))
    axes = fig.subplots(1, len(splits), squeeze=False)
    for ax, (split, sec) in zip(axes[0], splits.items(), strict=True):
        for name, entry in sec["curves"].items():
            s = entry["summary"]
            x = np.arange(1, len(s["mean"]) + 1)
            (line,) = ax.plot(x, s["mean"], label=name)
            if s["lo"] is not None:
                ax.fill_between(x, s["lo"], s["hi"], alpha=0.2, color=line.get_color())
        if sec.get("optimal") is not None:
            ax.axhline(sec["optimal"]["mean"], ls="--", color="k", label="optimal")
        ax.set_title(f"{result['env']}: {split} tasks ({sec['num_tasks']})")
        ax.set_xlabel(f"episode ({result['episode_len']} env steps each)")
        ax.set_ylabel("return")
        ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def split_tasks(env_name: str, split: str, num_tasks: int | None = None) -> jax.Array:
    """Task array [N, ...] of a split (`envs.tasks_for`): a grid's fixed set (its first num_tasks
    tasks, default all) or num_tasks (default 100) draws of a bandit split's own key stream."""
    if envs.has_task_sets(env_name):
        ids = None if num_tasks is None else np.arange(num_tasks)
    else:
        ids = np.arange(100 if num_tasks is None else num_tasks)
    return jnp.asarray(envs.tasks_for(env_name, split, ids)[0])


@functools.cache
def policy_fn(kind: str, env, num_episodes: int, refresh_every: int | None = None,
              temperature: float = 1.0, greedy: bool = False, source_cfg=None) -> Callable:
    """fn(agent, key, env_params) -> float32[num_episodes] returns for a curve kind: "agent"
    (an AD or ED agent in-context), "random", or "source" (source_cfg's learner from scratch);
    memoised, so equal settings give the same function (and compiled code)."""
    if kind == "agent":
        return lambda agent, k, p: in_context(k, agent, env, p, num_episodes,
                                              refresh_every=refresh_every,
                                              temperature=temperature, greedy=greedy)
    if kind == "random":
        return lambda agent, k, p: random_policy(k, env, p, num_episodes)
    if kind == "source":
        if source_cfg is None:
            raise ValueError("the source baseline needs source_cfg (a adjax.sources Config)")
        return lambda agent, k, p: source_from_scratch(k, source_cfg, env, p, num_episodes)
    raise ValueError(f"unknown curve kind {kind!r}; known: agent, random, source")


# Each curve's evaluation keys come from fold_in(root, CURVE_KEYS[name]): fixed per name, so adding
# or dropping a baseline changes no other curve. "rl2": `adjax.rl2.evaluate`'s curve, beside AD's.
CURVE_KEYS = {"agent": 100, "ed": 101, "random": 102, "source": 103, "rl2": 104}


@dataclasses.dataclass(frozen=True)
class EvalSpec:
    """What an evaluation computes: its results depend on these and the runs' checkpoints only.

    env: the env to act in (None: the run's, config.json "data" -> "env"), with env_kwargs its
    make kwargs (None: those the run's data were collected with, else the defaults). Each of
    `splits` gives its tasks (the first `num_tasks`, None: all); num_seeds evaluation seeds per
    task from root `seed`, num_episodes episodes each, the context refreshed every
    `refresh_every` steps (None: the model's default), actions sampled at `temperature` (or
    argmax: greedy). baselines: "random", "source" (the source learning from scratch), "optimal"
    (the optimal return per task, where known).
    """

    env: str | None = None
    env_kwargs: dict | None = None
    splits: Sequence[str] = ("test",)
    num_episodes: int = 100
    num_seeds: int = 5
    seed: int = 0
    num_tasks: int | None = None
    refresh_every: int | None = None
    temperature: float = 1.0
    greedy: bool = False
    baselines: Sequence[str] = ("random",)


def evaluation_settings(spec: EvalSpec, run_dir, ed_run_dir=None) -> dict:
    """What an evaluation is asked for, as `evaluate_run` records it: the env (default: the run's)
    and its make kwargs (default: those the run's data were collected with), the runs and the
    checkpoint steps that would be evaluated now, and the settings (the splits are recorded as
    the result's keys). Equal settings (and splits) give equal results (the batch size is a
    speed setting only), so the CLI finds a complete output by them. Reads config.json only."""
    env_name, env_kwargs = spec.env, spec.env_kwargs
    if run_dir is None and env_name is None:
        raise ValueError("evaluate_run: without a run (baselines only) pass env_name")
    cfg_path = None if run_dir is None else Path(run_dir) / "config.json"
    trained_on = read_json(cfg_path)["data"] if cfg_path and cfg_path.exists() else {}
    if env_name is None:
        env_name = trained_on.get("env")
        if env_name is None:
            raise ValueError(f"{run_dir}: config.json names no env; pass env_name")
    if env_kwargs is None:
        env_kwargs = trained_on.get("env_kwargs", {}) if trained_on.get("env") == env_name else {}
    return {"env": env_name, "env_kwargs": dict(env_kwargs),
            "run_dir": None if run_dir is None else str(run_dir),
            "run_step": run_dir and latest_step(run_dir),
            "ed_run_dir": None if ed_run_dir is None else str(ed_run_dir),
            "ed_run_step": ed_run_dir and latest_step(ed_run_dir),
            "num_episodes": spec.num_episodes, "num_seeds": spec.num_seeds, "seed": spec.seed,
            "num_tasks": spec.num_tasks, "refresh_every": spec.refresh_every,
            "temperature": spec.temperature, "greedy": spec.greedy,
            "baselines": list(spec.baselines)}


def evaluate_run(run_dir, out, spec: EvalSpec | None = None, *, ed_run_dir=None,
                 source_cfg=None, batch_size: int = DEFAULT_BATCH, figure: bool = True,
                 progress: bool = True) -> dict:
    """Evaluate a run as `spec` says on each of its splits' tasks and write `out` (JSON) and `out`
    with .png (figure; spec None: `EvalSpec()`). run_dir None: the baselines (and ED:
    ed_run_dir) alone, on spec.env.
    batch_size: task-seed pairs per compiled call (speed only, not the results).

    JSON: {"env", "run_dir", "run_step" (its checkpoint evaluated), settings (those asked for:
    `evaluation_settings`; env_kwargs only where not the defaults), "interval", "splits":
    {split: {"tasks", "num_tasks", "curves": {name: {"returns" [N][S][E], "summary"}},
    "optimal"}}}; curves are "agent", and the baselines asked for: "random", "source" (needs
    source_cfg, a source Config), "ed" (ed_run_dir).
    """
    spec = EvalSpec() if spec is None else spec
    asked = evaluation_settings(spec, run_dir, ed_run_dir)
    env_name, env_kwargs = asked["env"], asked["env_kwargs"]
    num_episodes, num_seeds, baselines = spec.num_episodes, spec.num_seeds, spec.baselines
    agent = None if run_dir is None else load_agent(run_dir)
    env, params = envs.make(env_name, **env_kwargs)
    ed = load_agent(ed_run_dir) if ed_run_dir is not None else None
    act = policy_fn("agent", env, num_episodes, spec.refresh_every, spec.temperature,
                    spec.greedy)
    fns = {}  # curve name -> (fn, agent)
    if agent is not None:
        fns["agent"] = (act, agent)
    if ed is not None:
        fns["ed"] = (act, ed)
    for name in ("random", "source"):
        if name in baselines:
            fns[name] = (policy_fn(name, env, num_episodes, source_cfg=source_cfg), None)
    root = jax.random.key(spec.seed)
    result = {**{k: v for k, v in asked.items() if k != "env_kwargs" or v},  # default env: none
              "episode_len": int(env.episode_len), "interval": INTERVAL, "splits": {}}
    tasks_of = {s: split_tasks(env_name, s, spec.num_tasks) for s in spec.splits}
    saved = partial.partial_dir(out)
    if distributed.is_main():
        partial.keep_for(saved, {**asked, "episode_len": int(env.episode_len),
                                 "splits": list(spec.splits)})
    distributed.barrier(f"adjax-evaluate-partial-{out}")
    total = sum(t.shape[0] for t in tasks_of.values()) * num_seeds * len(fns)
    bar = tqdm(total=total, desc="evaluate", unit="pair",
               disable=not (progress and distributed.is_main()))
    for split in spec.splits:
        tasks = tasks_of[split]
        curves = {}
        for name, (fn, who) in fns.items():
            bar.set_postfix_str(f"{split}: {name}")
            key = jax.random.fold_in(root, CURVE_KEYS[name])
            ret = over_tasks_and_seeds(fn, key, env, params, tasks, num_seeds, batch_size,
                                       on_chunk=bar.update, agent=who,
                                       save_dir=saved / f"{split}-{name}")
            curves[name] = {"returns": np.round(ret, 6).tolist(), "summary": summarize(ret)}
        result["splits"][split] = split_record(env_name, tasks, curves,
                                               with_optimal="optimal" in baselines)
    bar.close()
    if distributed.is_main():  # a multi-process job's processes all hold the result
        write_json(out, result, indent=None, checksum=True)
        if figure:
            plot(result, Path(out).with_suffix(".png"))
        shutil.rmtree(saved, ignore_errors=True)
    distributed.barrier(f"adjax-evaluate-{out}")
    return result


def evaluate_source_curve(source_cfg, env_name: str, out, *, num_actors: int, num_steps: int,
                          split: str = "test", num_seeds: int = 5, num_tasks: int | None = None,
                          seed: int = 0, num_bins: int = 60, batch_size: int = 16,
                          progress: bool = True, env_kwargs: dict | None = None,
                          task_batch: int | None = None) -> dict:
    """The source learning each split task from scratch with num_actors actors, on the env-step
    axis (`baselines.source_step_curve`), binned by `stats.log_bins`; writes `out` (JSON).

    JSON: {"env", "split", "tasks", "num_tasks", "num_actors", "num_steps" (requested),
    "steps_consumed" (per task and seed, all actors), "num_seeds", "steps" [B] (steps consumed when
    each bin's last episode completes), "per_seed" [S][B] (averaged over tasks)}. Keys: those of
    the "source" curve of `evaluate_run`, so the same seed reruns the same learners. env_kwargs:
    the env's make kwargs (recorded where given). task_batch: learners run at a time on each
    device (`devices.map_tasks`; the same bits).
    """
    env, params = envs.make(env_name, **(env_kwargs or {}))
    tasks = split_tasks(env_name, split, num_tasks)
    fn = _source_curve_fn(source_cfg, env, num_steps, num_actors)
    bar = tqdm(total=tasks.shape[0] * num_seeds, desc=f"source, {num_actors} actors",
               unit="pair", disable=not progress)
    key = jax.random.fold_in(jax.random.key(seed), CURVE_KEYS["source"])
    ret = over_tasks_and_seeds(fn, key, env, params, tasks, num_seeds, batch_size,
                               on_chunk=bar.update, task_batch=task_batch)  # [N, S, E]
    bar.close()
    per_ep = env.episode_len * num_actors
    steps, per_seed = log_bins(ret.mean(axis=0), per_ep, num_bins)
    result = {"env": env_name, "split": split, "tasks": np.asarray(tasks).tolist(),
              "num_tasks": int(tasks.shape[0]), "source": type(source_cfg).NAME,
              "num_actors": num_actors, "num_steps": num_steps,
              "steps_consumed": int(ret.shape[-1] * per_ep), "num_seeds": num_seeds,
              "seed": seed, "steps": steps.tolist(), "per_seed": per_seed.round(4).tolist()}
    if env_kwargs:
        result["env_kwargs"] = dict(env_kwargs)
    if distributed.is_main():
        write_json(out, result, indent=None, checksum=True)
    distributed.barrier(f"adjax-evaluate-{out}")
    return result


@functools.cache
def _source_curve_fn(source_cfg, env, num_steps: int, num_actors: int) -> Callable:
    return lambda agent, k, p: source_step_curve(k, source_cfg, env, p, num_steps, num_actors)
