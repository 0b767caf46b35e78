"""Watermaze pictures: what a trained AD agent sees and where it goes on one held-out platform.

    python -m adjax.report.arena RUN_DIR [--episodes 160] [--task 0] [--seed 0] [--out DIR]

RUN_DIR is a Watermaze experiment directory (`run_experiment`'s). Its AD training seed 0 acts in
context on platform `--task` of the held-out ("test") split, in the run's own arena (its
resolution), with the evaluation's key for that platform and evaluation seed, its context refresh
and temperature (`adjax.evaluate.in_context_trace`), so its returns are the evaluation's. Writes
into RUN_DIR/figures (or --out):

- `<experiment>_arena.png`: one row per drawn episode (1, 10 and the last): the arena from above
  (the coloured wall, the invisible platform, the path from the first step to the last) beside a
  strip of the first-person frames the agent was given, the very frames of the rollout; under
  them, whether each episode found the platform;
- `<experiment>_arena.json`: the settings, the run's fingerprint (skip when unchanged), every
  episode's return and the drawn episodes' (x, y, heading) per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from adjax import distributed, envs
from adjax.atomic import read_json, save_figure, write_json
from adjax.envs.watermaze import MAX_RADIUS, PLATFORM_RADIUS, SECTOR_RGB
from adjax.evaluate import in_context_trace, load_agent
from adjax.evaluate.results import pair_key
from adjax.report.pictures import (
    PictureError,
    ad_run_dir,
    draw_from_args,
    experiment_info,
    fingerprint,
    picture_parser,
    print_files,
    unchanged,
)

ENV = "watermaze"
SPLIT = "test"  # the held-out platforms
ROW_EPISODES = (1, 10)  # and the last episode
STRIP = 8  # first-person frames per drawn episode
VERSION = 1  # of the picture: a change redraws every run's


@dataclass
class ArenaRun:
    """What the agent did on one platform: per episode and step, the state it acted in."""

    task: np.ndarray  # float32[2], the platform centre
    task_id: int
    seed: int
    stored: np.ndarray  # float32[E, L + 1, 3]: (x, y, heading) before each step, then the last
    actions: np.ndarray  # int[E, L]
    rewards: np.ndarray  # float[E, L]
    frames: np.ndarray  # uint8[E, L, H, W, 3]: the observation of each step, as the agent saw it

    @property
    def returns(self) -> np.ndarray:
        return self.rewards.sum(axis=1)

    @property
    def num_episodes(self) -> int:
        return int(self.actions.shape[0])


def shown_episodes(num_episodes: int) -> list[int]:
    """The episodes drawn (1-based): ROW_EPISODES up to num_episodes, and the last one."""
    eps = [e for e in ROW_EPISODES if e <= num_episodes]
    return eps if num_episodes in eps else [*eps, num_episodes]


def record_arena(agent, env_kwargs: dict | None = None, task_id: int = 0, seed: int = 0,
                 num_episodes: int = 160, refresh_every: int | None = None,
                 temperature: float = 1.0, eval_seed: int = 0) -> ArenaRun:
    """`agent` in context on held-out platform `task_id` of a Watermaze arena built with
    `env_kwargs`, with the key the evaluation (root seed `eval_seed`) gives that platform and
    evaluation seed `seed`, for num_episodes episodes -> `ArenaRun`."""
    env, params = envs.make(ENV, **(env_kwargs or {}))
    tasks, _ = envs.tasks_for(ENV, SPLIT, None)
    if not 0 <= task_id < len(tasks):
        raise PictureError(f"{ENV}: platform {task_id} is not in the held-out split "
                           f"(platforms 0..{len(tasks) - 1})")
    params = env.with_task(params, tasks[task_id])
    trace = in_context_trace(pair_key("agent", task_id, seed, eval_seed), agent, env, params,
                             num_episodes, refresh_every=refresh_every, temperature=temperature)
    L = int(env.episode_len)
    done = np.asarray(trace.done).reshape(num_episodes, L)
    if not (done[:, -1].all() and not done[:, :-1].any()):
        raise PictureError("the trace's episodes do not end every episode_len steps")
    stored = np.asarray(trace.stored).reshape(num_episodes, L, 3)
    actions = np.asarray(trace.actions).reshape(num_episodes, L)
    # The state after each episode's last action is not in the trace (the env resets): step it.
    last = stored[:, -1]
    state = envs.WatermazeState(time=jnp.zeros(num_episodes, jnp.int32),
                                pos=jnp.asarray(last[:, :2]), heading=jnp.asarray(last[:, 2]),
                                found=jnp.zeros(num_episodes, bool))
    keys = jax.random.split(jax.random.key(0), num_episodes)
    *_, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(keys, state,
                                                            jnp.asarray(actions[:, -1]), params)
    final = jax.vmap(env.stored_obs)(info["final_state"])
    return ArenaRun(np.asarray(tasks[task_id]), task_id, seed,
                    np.concatenate([stored, np.asarray(final)[:, None]], axis=1), actions,
                    np.asarray(trace.rewards, np.float64).reshape(num_episodes, L),
                    np.asarray(trace.obs).reshape(num_episodes, L, *trace.obs.shape[1:]))


# ---- drawing (numpy, matplotlib) ----

def _draw_arena(ax, run: ArenaRun, e: int, cmap="viridis") -> None:
    """The arena from above: the wall's eight colours, the invisible platform (dashed), the
    reachable disc's edge (dotted), episode e's path from dark (first step) to yellow (last),
    its start and first heading, and the step that reached the platform (red star)."""
    ax.set_aspect("equal")
    ax.set_xlim(-1.08, 1.08)
    ax.set_ylim(-1.08, 1.08)
    ax.axis("off")
    for k, rgb in enumerate(SECTOR_RGB):
        phi = np.linspace(k * np.pi / 4, (k + 1) * np.pi / 4, 20)
        ax.plot(np.cos(phi), np.sin(phi), color=rgb / 255, lw=4, solid_capstyle="butt")
    phi = np.linspace(0, 2 * np.pi, 200)
    ax.plot(MAX_RADIUS * np.cos(phi), MAX_RADIUS * np.sin(phi), ":", color="0.6", lw=0.7)
    px, py = run.task
    ax.fill(px + PLATFORM_RADIUS * np.cos(phi), py + PLATFORM_RADIUS * np.sin(phi), color="gold",
            alpha=0.45, lw=0)
    ax.plot(px + PLATFORM_RADIUS * np.cos(phi), py + PLATFORM_RADIUS * np.sin(phi), "--",
            color="goldenrod", lw=0.8)
    xy = run.stored[e - 1, :, :2].astype(float)
    seg = np.stack([xy[:-1], xy[1:]], axis=1)
    lc = LineCollection(seg, cmap=cmap, lw=1.8, zorder=3)
    lc.set_array(np.linspace(0, 1, len(seg)))
    ax.add_collection(lc)
    x0, y0, h0 = run.stored[e - 1, 0]
    ax.plot(x0, y0, "o", color="k", ms=4, zorder=5)
    ax.annotate("", (x0 + 0.22 * np.cos(h0), y0 + 0.22 * np.sin(h0)), (x0, y0),
                arrowprops=dict(arrowstyle="-|>", color="k", lw=1), zorder=5)
    paid = np.flatnonzero(run.rewards[e - 1] > 0)
    if paid.size:
        ax.plot(*xy[paid[0] + 1], "*", color="tab:red", ms=10, zorder=6)
    found = f"found at step {paid[0] + 1}" if paid.size else "not found"
    ax.set_title(f"episode {e}: {found}", fontsize=8)


def strip_steps(run: ArenaRun, e: int, n: int = STRIP) -> list[int]:
    """n steps of episode e (0-based) to show: evenly spread, ending at the step whose action
    reached the platform when it was reached, so the strip shows the approach."""
    paid = np.flatnonzero(run.rewards[e - 1] > 0)
    end = int(paid[0]) if paid.size else run.actions.shape[1] - 1
    return sorted(set(np.linspace(0, end, min(n, end + 1)).round().astype(int).tolist()))


def arena_figure(run: ArenaRun, title: str | None = None) -> Figure:
    """One row per shown episode: the arena from above, then a strip of the agent's frames;
    under them the return of every episode with the shown ones marked."""
    eps = shown_episodes(run.num_episodes)
    H, W = run.frames.shape[2:4]
    fig = Figure(figsize=(2.3 + STRIP * 1.05, 2.2 * len(eps) + 1.9))
    grid = fig.add_gridspec(len(eps) + 1, STRIP + 2, width_ratios=[2.2, 0.1] + [1] * STRIP,
                            height_ratios=[1] * len(eps) + [0.7])
    for r, e in enumerate(eps):
        _draw_arena(fig.add_subplot(grid[r, 0]), run, e)
        for i, t in enumerate(strip_steps(run, e)):
            ax = fig.add_subplot(grid[r, 2 + i])
            ax.imshow(run.frames[e - 1, t], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            hit = run.rewards[e - 1, t] > 0
            for side in ax.spines.values():
                side.set_color("tab:red" if hit else "0.7")
                side.set_linewidth(2.0 if hit else 0.5)
            ax.set_title(f"step {t + 1}" + (" (found)" if hit else ""), fontsize=6.5,
                         color="tab:red" if hit else "k")
    ax = fig.add_subplot(grid[len(eps), :])
    x = np.arange(1, run.num_episodes + 1)
    ax.plot(x, run.returns, "|", color="tab:red", ms=6, label="found (1) or not (0)")
    k = max(1, run.num_episodes // 16)
    running = np.convolve(run.returns, np.ones(k) / k, mode="valid")
    ax.plot(x[k - 1:], running, color="k", lw=1, label=f"mean of the last {k}")
    ax.plot(eps, run.returns[np.asarray(eps) - 1], "o", color="tab:blue", ms=4,
            label="drawn above")
    ax.set_xlim(0.5, run.num_episodes + 0.5)
    ax.set_ylim(-0.08, 1.08)
    ax.set_xlabel("episode", fontsize=7)
    ax.set_ylabel("return", fontsize=7)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="center right")
    ax.grid(alpha=0.3)
    fig.suptitle(title or f"watermaze: held-out platform {run.task_id}, evaluation seed "
                 f"{run.seed}", fontsize=8.5)
    fig.text(0.5, 0.005, f"left: the arena from above, the platform dashed (invisible to the "
             f"agent), start and first heading in black, path dark (first step) to yellow; "
             f"right: the {H}x{W} frames the agent was given at the steps named",
             ha="center", va="bottom", fontsize=6.5)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


# ---- run directories ----

def outputs(out_dir, name: str) -> dict[str, Path]:
    out_dir = Path(out_dir)
    return {"png": out_dir / f"{name}_arena.png", "json": out_dir / f"{name}_arena.json"}


def write_arena(run_dir, out_dir=None, num_episodes: int = 160, task_id: int = 0, seed: int = 0,
                force: bool = False) -> dict[str, Path]:
    """The arena figure and JSON of a Watermaze experiment directory's AD seed 0 (module doc)
    into out_dir (default run_dir/figures); reused when they exist with the same settings and
    run fingerprint. -> {"png", "json"} paths."""
    run_dir = Path(run_dir)
    info = experiment_info(run_dir)
    if info["env"] != ENV:
        raise PictureError(f"arena pictures are for Watermaze; this run's env is "
                           f"{info['env']!r}")
    ad = ad_run_dir(run_dir, info["name"])
    files = outputs(out_dir or run_dir / "figures", info["name"])
    stamp = {"version": VERSION, "run": fingerprint(ad), "env": ENV,
             "env_kwargs": info["env_kwargs"], "split": SPLIT, "task": task_id, "seed": seed,
             "episodes": num_episodes, "refresh_every": info["refresh_every"],
             "temperature": info["temperature"]}
    if not force and unchanged(files, stamp):
        return files
    run = record_arena(load_agent(ad), info["env_kwargs"], task_id, seed, num_episodes,
                       info["refresh_every"], info["temperature"])
    preset = f" ({info['preset']} preset)" if info["preset"] else ""
    title = (f"{info['name']}{preset}: AD (training seed 0) in context, weights frozen, on "
             f"held-out platform {task_id} {np.round(run.task, 3).tolist()}, evaluation seed "
             f"{seed}")
    if distributed.is_main():  # every process of a job traced (a restore is collective)
        save_figure(arena_figure(run, title), files["png"], dpi=90)
        eps = shown_episodes(num_episodes)
        write_json(files["json"], {
            **stamp, "experiment": info["name"], "platform": run.task.tolist(),
            "returns": run.returns.round(4).tolist(),
            "shown": {str(e): run.stored[e - 1].round(5).tolist() for e in eps}}, indent=None,
            checksum=True)
    distributed.barrier(f"adjax-arena-{files['json']}")
    return files


def summary_figures(results: dict, out: Path) -> list[Path]:
    """The runner's summary stage: for a Watermaze experiment, its arena picture over the held-out
    split's episodes; [] otherwise."""
    curves = results.get("curves", {}).get(SPLIT, {})
    if results.get("env") != ENV or "AD" not in curves:
        return []
    episodes = len(curves["AD"]["per_seed"][0])
    return [write_arena(out, num_episodes=episodes)["png"]]


def main(argv=None) -> dict[str, Path]:
    ap = picture_parser(
        "python -m adjax.report.arena",
        "Draw what a trained AD agent sees and where it goes, episode by episode, on one "
        "held-out Watermaze platform.",
        "a Watermaze experiment directory (experiment.json, runs/ad/seed0), e.g. runs/watermaze",
        "index into the held-out platforms", episodes=160)
    files = draw_from_args(ap, argv, write_arena)
    returns = read_json(files["json"])["returns"]
    print(f"platform found in {sum(returns):g} of {len(returns)} episodes; episodes "
          + ", ".join(f"{e}: {returns[e - 1]:g}" for e in shown_episodes(len(returns))))
    print_files(files)
    return files


if __name__ == "__main__":
    from adjax.devices import use_cpu_cores

    use_cpu_cores()
    main()
