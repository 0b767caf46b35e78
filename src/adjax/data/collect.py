"""Run a source learner over many tasks (x seeds), chunk by chunk, into a dataset directory."""

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from adjax import devices, distributed, envs, sources
from adjax.atomic import disk_errors, replacing
from adjax.data.dataset import (
    FORMAT_VERSION,
    STATE_ARRAY,
    STATE_FORMAT_VERSION,
    load,
    obs_storage_dtype,
    plot_learning_curve,
    publish,
    write_manifest,
)
from adjax.lock import dataset_lock
from adjax.sources.common import obs_dims

ARRAYS = ("obs", "actions", "rewards", "task_index", "seed", "stream", "tasks")


def _make_env(env, env_kwargs):
    """name or gymnax Environment -> (env, default params)."""
    if isinstance(env, str):
        return envs.make(env, **(env_kwargs or {}))
    return env, env.default_params


def _resolve_tasks(env_name, tasks, task_indices, split):
    """-> (tasks [n, ...] int32/float32, task ids int64[n]: the identity folded into the keys)."""
    if tasks is not None:
        tasks = np.asarray(tasks)
        ids = np.arange(len(tasks)) if task_indices is None else np.asarray(task_indices)
        if len(ids) != len(tasks):
            raise ValueError("task_indices must give one id per row of tasks")
        return tasks, ids.astype(np.int64)
    if not envs.has_task_sets(env_name) and task_indices is None:
        raise ValueError(f"{env_name}: pass task_indices (how many tasks to sample) "
                         "or tasks explicitly")
    return envs.tasks_for(env_name, split, task_indices)


def env_config(env, env_kwargs) -> dict:
    """JSON-able static description of an env (its make kwargs, sizes, spaces)."""
    space = env.observation_space(env.default_params)
    static = env.config() if callable(getattr(env, "config", None)) else {}
    return {
        **static,
        "kwargs": dict(env_kwargs or {}),
        "episode_len": int(env.episode_len),
        "num_actions": int(env.num_actions),
        "obs_shape": list(space.shape),
        # Cardinalities of discrete vector observations; None for images (one per pixel).
        "obs_dims": list(obs_dims(env)) if len(space.shape) == 1 else None,
    }


def obs_storage(env) -> dict | None:
    """The manifest's `obs_storage` for envs whose datasets store renderer state (format 2)."""
    if not envs.stores_state(env):
        return None
    space = env.observation_space(env.default_params)
    return {"array": STATE_ARRAY, "fields": list(env.stored_obs_fields),
            "frame_shape": list(space.shape), "frame_dtype": np.dtype(space.dtype).str}


@functools.lru_cache(maxsize=16)
def _chunk_fn(source_cfg, env, subsample_every, keep_streams, kinds, expert_episodes,
              task_batch=None):
    """jit(keys_C, params_C) -> {kind: compact arrays of C units: obs [C, S', T', O], ...} for
    each kind in `kinds` ("learning": the learners' histories, streams kept and episodes
    subsampled; "expert": their final policies rolled out), all from one run of the learners,
    `task_batch` learners at a time on each device (`devices.map_tasks`; None: all at once)."""
    mod = sources.module_of(source_cfg)
    train = mod.make_train(source_cfg, env)
    expert_fn = mod.make_expert(source_cfg, env, expert_episodes) if "expert" in kinds else None
    L, k = env.episode_len, subsample_every
    state = envs.stores_state(env)
    obs_dtype = np.float32 if state else obs_storage_dtype(obs_dims(env))

    def compact(hist):
        if state and hist.obs.shape[-1:] != (len(env.stored_obs_fields),):
            raise ValueError(f"{env.name} datasets store {env.stored_obs_fields} per step, but "
                             f"source {source_cfg.NAME!r} records obs of shape "
                             f"{hist.obs.shape[2:]}")
        r16 = hist.rewards.astype(jnp.float16)
        inexact = jnp.any(r16.astype(jnp.float32) != hist.rewards)
        return (hist.obs.astype(obs_dtype), hist.actions.astype(jnp.uint8), r16, inexact)

    def learning(hist):
        if keep_streams is not None:
            hist = jax.tree.map(lambda x: x[jnp.asarray(keep_streams)], hist)
        if k > 1:
            def sub(x):
                S, T = x.shape[:2]
                x = x.reshape(S, T // L, L, *x.shape[2:])[:, k - 1 :: k]
                return x.reshape(S, -1, *x.shape[3:])

            hist = jax.tree.map(sub, hist)
        return hist

    def one(key, env_params):
        state, hist = train(key, env_params)
        out = {}
        if "learning" in kinds:
            out["learning"] = compact(learning(hist))
        if expert_fn is not None:
            out["expert"] = compact(expert_fn(jax.random.fold_in(key, 0x5EED), state, env_params))
        return out

    return jax.jit(devices.map_tasks(one, task_batch))


@dataclasses.dataclass(frozen=True)
class CollectSpec:
    """What a dataset holds: a source learner run on an env's tasks with some seeds, and what is
    kept of its histories. Every field is recorded in the dataset's manifest (and a rerun with
    another spec is refused); how the work is done (chunks, progress) is `collect`'s.

    source: an adjax.sources Config. env: a registry name or a gymnax environment object, with
    env_kwargs its non-default make kwargs (names only). Tasks: `tasks` (rows, with
    `task_indices` their ids) or `task_indices` of the env's `split` (for the bandit, how many to
    draw). seeds: learners per task; the key of (task, seed) is fold_in(key(seed), task_id).
    Learning histories keep `keep_streams` of each learner's streams (None: all) and every
    `subsample_every`-th episode; expert data is the final policies rolled out for
    `expert_episodes` episodes.
    """

    source: Any
    env: Any = "darkroom"
    env_kwargs: dict | None = None
    tasks: np.ndarray | None = None
    task_indices: Sequence[int] | None = None
    split: str = "train"
    seeds: Sequence[int] = (0,)
    subsample_every: int = 1
    keep_streams: Sequence[int] | None = None
    expert_episodes: int = 100

    @property
    def env_name(self) -> str:
        return self.env if isinstance(self.env, str) else self.env.name


def collect(
    spec: CollectSpec,
    out_dir: str | os.PathLike = "data/darkroom",
    *,
    expert: bool = False,
    expert_out_dir: str | os.PathLike | None = None,
    chunk_size: int = 16,
    task_batch: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    plot: bool = True,
    on_chunk: Callable[[int], None] | None = None,
) -> Path:
    """Run `spec`'s learner on every (task, seed), write a dataset directory, return its path.

    Histories are ordered task-major, then seed, then kept stream. Completed chunks (of
    `chunk_size` task-seed pairs) live in a hidden sibling `.NAME.tmp-HASH/` so a rerun of the
    same command resumes; the dataset appears (by rename) only when complete. expert: write the
    learners' final policies rolled out (ED's data) instead of their histories. expert_out_dir:
    write both from one run of the learners, the histories to out_dir and the expert data there
    (the same bits as two separate calls; half the compute). task_batch: learners run at a
    time on each device within a chunk (`devices.map_tasks`: None, all of the chunk at once,
    as an accelerator wants; a few keeps their state in a CPU's cache: the same bits, faster
    for network learners). `on_chunk(i)` is called after
    chunk i is on disk (tests inject failures there).

    In a multi-process job (`adjax.distributed`) every process calls collect with the same
    arguments: process p runs chunks p, p + P, ... on its own devices into the shared staging
    directory, and process 0 assembles and publishes the dataset once all are done: the same
    bytes as one process.
    """
    if not isinstance(spec, CollectSpec):
        raise TypeError(f"collect takes a CollectSpec, got {type(spec).__name__}")
    if task_batch is not None and task_batch < 1:
        raise ValueError(f"collect: task_batch must be >= 1 or None, got {task_batch}")
    if expert and expert_out_dir is not None:
        raise ValueError("expert=True writes expert data to out_dir; expert_out_dir is for "
                         "writing it beside the learning histories")
    if expert and (spec.subsample_every != 1 or spec.keep_streams is not None):
        raise ValueError("expert data is the final policies' rollouts: subsample_every and "
                         "keep_streams apply to learning histories only")
    outs = {"expert" if expert else "learning": Path(out_dir)}
    if expert_out_dir is not None:
        outs["expert"] = Path(expert_out_dir)
    for out in outs.values():
        if (out.exists() or out.is_symlink()) and not overwrite and not (out / "manifest.json"
                                                                        ).exists():
            raise FileExistsError(f"{out} exists and is not a complete dataset (no manifest.json);"
                                  " pass overwrite=True to replace it")
    _check_spec(spec, chunk_size)
    with contextlib.ExitStack() as locks:  # one writer per dataset, the second told at once
        for out in outs.values():
            if distributed.is_main():  # a job's other processes write only chunk files
                locks.enter_context(dataset_lock(out))
        return _collect(spec, outs, chunk_size, task_batch, overwrite, progress, plot,
                        on_chunk)


def _check_spec(spec: CollectSpec, chunk_size: int) -> None:
    """Errors naming the field and its value, before any lock, directory or computation."""
    for name, v in (("chunk_size", chunk_size), ("subsample_every", spec.subsample_every),
                    ("expert_episodes", spec.expert_episodes)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    if not len(spec.seeds):
        raise ValueError("seeds is empty: give at least one seed")
    _make_env(spec.env, spec.env_kwargs)
    task_arr, _ = _resolve_tasks(spec.env_name, spec.tasks, spec.task_indices, spec.split)
    if len(task_arr) == 0:
        raise ValueError(f"no tasks to collect (task_indices {list(spec.task_indices or [])!r})")
    streams = getattr(spec.source, "num_streams", getattr(spec.source, "num_actors", None))
    keep = spec.keep_streams
    if keep is not None and streams is not None:
        bad = [s for s in keep if not 0 <= int(s) < streams]
        if bad or not len(keep):
            raise ValueError(f"keep_streams {list(keep)!r}: each must be in "
                             f"[0, {streams}) (the source's streams)")


def _collect(spec: CollectSpec, outs, chunk_size, task_batch, overwrite, progress, plot,
             on_chunk) -> Path:
    out_dir = next(iter(outs.values()))
    source_cfg, env_name = spec.source, spec.env_name
    env_obj, params = _make_env(spec.env, spec.env_kwargs)
    task_arr, task_ids = _resolve_tasks(env_name, spec.tasks, spec.task_indices, spec.split)
    if env_obj.num_actions > 255:
        raise ValueError("actions are stored as uint8")
    seeds = [int(s) for s in spec.seeds]
    keep = None if spec.keep_streams is None else tuple(int(s) for s in spec.keep_streams)
    mod = sources.module_of(source_cfg)
    storage = obs_storage(env_obj)
    base = {
        "format_version": FORMAT_VERSION if storage is None else STATE_FORMAT_VERSION,
        **({} if storage is None else {"obs_storage": storage}),
        "env": env_name,
        "env_config": env_config(env_obj, spec.env_kwargs),
        "source": type(source_cfg).NAME,
        "source_config": dataclasses.asdict(source_cfg),
        "seeds": seeds,
        "split": None if spec.tasks is not None else spec.split,
        "task_ids": task_ids.tolist(),
        "task_sha256": hashlib.sha256(np.ascontiguousarray(task_arr).tobytes()).hexdigest(),
        "chunk_size": int(chunk_size),
    }
    specs = {
        "learning": {**base, "kind": "learning", "subsample_every": int(spec.subsample_every),
                     "keep_streams": None if keep is None else list(keep),
                     "expert_episodes": None},
        "expert": {**base, "kind": "expert", "subsample_every": 1, "keep_streams": None,
                   "expert_episodes": int(spec.expert_episodes)},
    }
    if not overwrite:  # a complete dataset of this configuration is reused, another refused
        for kind, out in list(outs.items()):
            if out.exists() or out.is_symlink():
                check_complete(out, specs[kind])
                if distributed.is_main():
                    print(f"{out}: already complete with this configuration, nothing to do",
                          flush=True)
                del outs[kind]
        if not outs:
            return Path(out_dir)
    tmps = {}
    for kind, out in outs.items():
        digest = hashlib.sha256(json.dumps(specs[kind], sort_keys=True).encode()).hexdigest()[:16]
        tmps[kind] = out.parent / f".{out.name}.tmp-{digest}"
        (tmps[kind] / "chunks").mkdir(parents=True, exist_ok=True)

    units = [(row, s) for row in range(len(task_arr)) for s in seeds]
    task_params = jax.vmap(lambda t: env_obj.with_task(params, t))(jnp.asarray(task_arr))
    ids = jnp.asarray(task_ids, jnp.uint32)
    per_seed = {s: jax.vmap(jax.random.fold_in, (None, 0))(jax.random.key(s), ids) for s in seeds}
    keys = jnp.stack([per_seed[s] for s in seeds], axis=1).reshape(-1)  # order of `units`
    fn = _chunk_fn(source_cfg, env_obj, spec.subsample_every, keep, tuple(outs),
                   spec.expert_episodes, task_batch)
    n_chunks = -(-len(units) // chunk_size)
    chunk_path = lambda kind, i: tmps[kind] / "chunks" / f"{i:05d}.npz"  # noqa: E731
    done = [i for i in range(n_chunks) if all(chunk_path(k, i).exists() for k in outs)]
    mine = distributed.my_share(n_chunks)
    bar = tqdm(total=len(mine), initial=len(set(done) & set(mine)),
               desc=f"collect {mod.Config.NAME}/{env_name}", unit="chunk",
               disable=not (progress and distributed.is_main()))
    for i in mine:
        if i in done:
            continue
        # Padded (the last chunk, and to a multiple of the devices it is split across): one
        # compiled shape; the padding's histories are dropped below.
        idx = np.arange(i * chunk_size, i * chunk_size + devices.round_up(chunk_size))
        idx = np.minimum(idx, len(units) - 1)
        rows = np.array([units[j][0] for j in idx])
        chunk_params = jax.tree.map(lambda x, r=rows: x[r], task_params)
        result = jax.device_get(fn(*devices.shard_tasks((keys[idx], chunk_params))))
        n = min(chunk_size, len(units) - i * chunk_size)
        for kind, (obs, actions, rewards, inexact) in result.items():
            if inexact.any():
                raise ValueError("rewards are not exactly representable in float16")
            with replacing(chunk_path(kind, i), suffix=".part.npz") as part:
                np.savez(part, obs=obs[:n], actions=actions[:n], rewards=rewards[:n])
        bar.update(1)
        if on_chunk is not None:
            on_chunk(i)
    bar.close()
    distributed.barrier(f"adjax-collect-{out_dir}-chunks")
    if not distributed.is_main():  # process 0 assembles and publishes; return when it has
        distributed.barrier(f"adjax-collect-{out_dir}-published")
        return Path(out_dir)
    for kind, tmp in tmps.items():
        with disk_errors(tmp):
            _assemble(tmp, specs[kind], units, task_arr, n_chunks, env_obj.episode_len)
        if plot:
            plot_learning_curve(load(tmp, verify=False, quiet=True), tmp / "learning_curve.png")
        shutil.rmtree(tmp / "chunks")
        publish(tmp, outs[kind], overwrite=overwrite)
    distributed.barrier(f"adjax-collect-{out_dir}-published")
    return Path(out_dir)


# Spec fields that do not change a dataset's bits (so not stored in, nor compared with, its
# manifest): chunking changes only how the work is split.
NOT_STORED = ("chunk_size",)


def _differences(have, want, prefix: str = "") -> list[str]:
    """Paths of the fields where `have` (a manifest) differs from `want` (a spec), JSON-compared."""
    if isinstance(want, dict) and isinstance(have, dict):
        out = []
        for k in sorted(set(want) | set(have)):
            if k in want and k not in NOT_STORED:
                out += _differences(have.get(k), want[k], f"{prefix}{k}.")
        return out
    return [] if have == want else [f"{prefix[:-1]}: existing {have!r}, requested {want!r}"]


def check_complete(out: Path, spec: dict) -> None:
    """`out` is a complete, intact dataset of `spec` (its arrays' checksums verified): return.
    Another configuration raises FileExistsError naming the first differing fields; a damaged
    dataset raises DatasetError naming the file."""
    ds = load(out, verify=True, quiet=True)
    want = json.loads(json.dumps(spec))
    diff = _differences(ds.manifest, want)
    if diff:
        raise FileExistsError(f"{out} exists with another configuration ({'; '.join(diff[:3])}); "
                              "use another output directory or pass overwrite=True to replace it")


def _assemble(tmp: Path, spec: dict, units, task_arr, n_chunks: int, episode_len: int) -> None:
    """Chunk files -> one memory-mapped .npy per array + manifest.json (sha256 per array).
    Format 2 (spec["obs_storage"]) writes the chunks' obs, renderer state, as obs_state.npy."""
    first = np.load(tmp / "chunks" / "00000.npz")
    S, T = first["actions"].shape[1:3]
    H = len(units) * S
    obs_file = spec["obs_storage"]["array"] if spec.get("obs_storage") else "obs"
    mm = {
        name: np.lib.format.open_memmap(tmp / f"{obs_file if name == 'obs' else name}.npy",
                                        mode="w+", dtype=first[name].dtype,
                                        shape=(H, *first[name].shape[2:]))
        for name in ("obs", "actions", "rewards")
    }
    pos = 0
    for i in range(n_chunks):
        with np.load(tmp / "chunks" / f"{i:05d}.npz") as z:
            n = z["actions"].shape[0] * S
            for name, arr in mm.items():
                arr[pos : pos + n] = z[name].reshape(n, *z[name].shape[2:])
            pos += n
    assert pos == H, (pos, H)
    for arr in mm.values():
        arr.flush()
    del mm
    streams = spec["keep_streams"] if spec["keep_streams"] is not None else list(range(S))
    np.save(tmp / "task_index.npy", np.repeat([u[0] for u in units], S).astype(np.int32))
    np.save(tmp / "seed.npy", np.repeat([u[1] for u in units], S).astype(np.int32))
    np.save(tmp / "stream.npy", np.tile(np.asarray(streams, np.int32), len(units)))
    np.save(tmp / "tasks.npy", np.ascontiguousarray(task_arr))
    fields = {
        **{k: v for k, v in spec.items() if k not in ("seeds", "chunk_size")},
        "seed": spec["seeds"][0] if len(spec["seeds"]) == 1 else spec["seeds"],
        "seeds": spec["seeds"],
        "num_tasks": len(task_arr),
        "num_histories": H,
        "history_len": int(T),
        "episode_len": episode_len,
        "num_episodes": int(T) // episode_len,
    }
    write_manifest(tmp, fields, tuple(obs_file if a == "obs" else a for a in ARRAYS))
