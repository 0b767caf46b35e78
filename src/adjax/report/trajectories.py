"""Trajectory pictures: a trained AD agent's paths on one held-out grid task, episode by episode.

    python -m adjax.report.trajectories RUN_DIR [--episodes 200] [--task 0] [--seed 0] [--out DIR]

RUN_DIR is an experiment directory (`run_experiment`'s: experiment.json, results.json,
runs/ad/seed0). Its AD training seed 0 acts in context on task `--task` of the held-out ("test")
split for `--episodes` episodes with the evaluation's own key for that task and evaluation seed,
context refresh and temperature (`adjax.evaluate.in_context_trace`, the rollout `in_context`
runs), so its returns are the evaluation's returns for that task and seed. Writes into
RUN_DIR/figures (or --out):

- `<experiment>_paths.png`: the paths of episodes 1, 2, 5, 10, 50, 200 (those run, and the last),
  one panel each: the grid, the start, the goal (Key-to-Door: key and door), the path coloured
  from the first step to the last, cells where a reward was paid, the episode's return;
- `<experiment>_episodes.gif`: the same episodes drawn step by step;
- `<experiment>_paths.json`: the settings, the run's fingerprint (skip when unchanged), every
  episode's return and the drawn episodes' positions and rewards (`shown_paths` reads them back
  for figures that put several runs side by side, e.g. an ablation's).

Grid environments only (`adjax.envs.GRID_ENVS`: the observation is the agent's cell). Unlike the
rest of `adjax.report` this runs the agent, so it imports JAX and `adjax.evaluate`.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from adjax import distributed, envs
from adjax.atomic import read_json, replacing, save_figure, write_json
from adjax.envs import GRID_ENVS, optimal_return
from adjax.evaluate import in_context_trace, load_agent
from adjax.evaluate.results import pair_key
from adjax.model import StepInputs, mark_episode_starts, step_inputs
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

PANEL_EPISODES = (1, 2, 5, 10, 50, 200)
SPLIT = "test"  # the held-out tasks
VERSION = 2  # of the pictures: a change redraws every run's (2: the shown episodes' rewards)
MOVES = np.array([[0, 0], [0, -1], [1, 0], [0, 1], [-1, 0]])  # the grid envs' actions (x, y)
COLOUR_KEY = ("path from dark (first step) to yellow (last step);\nred stars: rewarded steps; "
              "blue discs: time spent in a cell")


@dataclass
class Paths:
    """What the agent did on one task: every episode's cells, actions, rewards and return."""

    env: str
    size: int
    task: np.ndarray  # goal (x, y) [2], or (key, door) [2, 2]
    task_id: int
    seed: int
    positions: np.ndarray  # int[E, L + 1, 2]: the cell before each step, then the last cell
    actions: np.ndarray  # int[E, L]
    rewards: np.ndarray  # float[E, L]
    optimal: float | None = None  # the best return on this task, where known

    @property
    def returns(self) -> np.ndarray:
        return self.rewards.sum(axis=1)

    @property
    def num_episodes(self) -> int:
        return int(self.actions.shape[0])


def shown_episodes(num_episodes: int) -> list[int]:
    """The episodes drawn (1-based): PANEL_EPISODES up to num_episodes, and the last one."""
    eps = [e for e in PANEL_EPISODES if e <= num_episodes]
    return eps if num_episodes in eps else [*eps, num_episodes]


def check_grid(env_name: str) -> None:
    if env_name not in GRID_ENVS:
        raise PictureError(f"trajectory pictures need a grid environment whose observation is "
                           f"the agent's cell ({', '.join(GRID_ENVS)}); this run's env is "
                           f"{env_name!r}")


def paths_from_trace(trace, env, task, num_episodes: int, env_name: str, task_id: int = 0,
                     seed: int = 0) -> Paths:
    """A grid env's `Trace` of num_episodes whole episodes -> `Paths` (`paths_from_steps`)."""
    L = int(env.episode_len)
    done = np.asarray(trace.done).reshape(num_episodes, L)
    if not (done[:, -1].all() and not done[:, :-1].any()):
        raise PictureError("the trace's episodes do not end every episode_len steps")
    return paths_from_steps(trace.obs, trace.actions, trace.rewards, env, task, env_name,
                            task_id, seed)


def paths_from_steps(obs, actions, rewards, env, task, env_name: str, task_id: int = 0,
                     seed: int = 0) -> Paths:
    """Whole episodes of a grid env, steps in order (obs [E*L, 2] cells, actions [E*L],
    rewards [E*L]: a trace's or a stored history's) -> `Paths`. The cell after each episode's
    last step (not observed: the env resets) is its last cell moved by its last action, as the
    grid envs move (walls stop)."""
    L = int(env.episode_len)
    actions = np.asarray(actions).reshape(-1, L)
    E = actions.shape[0]
    obs = np.asarray(obs).reshape(E, L, 2)
    rewards = np.asarray(rewards, np.float64).reshape(E, L)
    a = np.where((actions >= 0) & (actions < len(MOVES)), actions, 0)
    last = np.clip(obs[:, -1] + MOVES[a[:, -1]], 0, env.size - 1)
    positions = np.concatenate([obs, last[:, None]], axis=1)
    try:
        optimal = float(optimal_return(env_name, task))
    except (NotImplementedError, ValueError):
        optimal = None
    return Paths(env_name, int(env.size), np.asarray(task), task_id, seed, positions, actions,
                 rewards, optimal)


def record_paths(agent, env_name: str, task_id: int = 0, seed: int = 0, num_episodes: int = 200,
                 refresh_every: int | None = None, temperature: float = 1.0,
                 eval_seed: int = 0, *, curve: str = "agent", env=None) -> Paths:
    """`agent` in context on task `task_id` of the held-out split, with the key the evaluation
    (`adjax.evaluate.evaluate_run`, root seed `eval_seed`) gives curve `curve` on that task and
    evaluation seed `seed`, for num_episodes episodes -> `Paths`. env: the run's environment
    (default `envs.make(env_name)`)."""

    check_grid(env_name)
    env = envs.make(env_name)[0] if env is None else env
    params = env.default_params
    tasks, _ = envs.tasks_for(env_name, SPLIT, None)
    if not 0 <= task_id < len(tasks):
        raise PictureError(f"{env_name}: task {task_id} is not in the held-out split "
                           f"(tasks 0..{len(tasks) - 1})")
    key = pair_key(curve, task_id, seed, eval_seed)
    task = tasks[task_id]
    trace = in_context_trace(key, agent, env, env.with_task(params, task), num_episodes,
                             refresh_every=refresh_every, temperature=temperature)
    return paths_from_trace(trace, env, task, num_episodes, env_name, task_id, seed)


def stream_inputs(paths: Paths, cfg) -> StepInputs:
    """The agent's whole stream in `paths` as its model (`ModelConfig` cfg) read it: step t's
    observation, previous action and previous reward, the first step's "none" (`num_actions`) and
    0, and with `cfg.episode_marker` every episode's first step marked the same way, as the
    evaluation loop does. For looking inside the model (attention over the context)."""
    L = paths.actions.shape[1]
    inputs = step_inputs(paths.positions[:, :-1].reshape(-1, 2), paths.actions.reshape(-1),
                         paths.rewards.reshape(-1), cfg.num_actions, 0.0)
    if cfg.episode_marker:
        inputs = mark_episode_starts(inputs, np.arange(paths.num_episodes * L), L, cfg.num_actions)
    return inputs


# ---- drawing (numpy, matplotlib, pillow) ----

def _marks(paths: Paths) -> list[tuple[str, np.ndarray, str]]:
    """(label, cell (x, y), colour) of the task's cells."""
    if paths.env == "key-to-door":
        return [("key", paths.task[0], "tab:orange"), ("door", paths.task[1], "tab:purple")]
    return [("goal", paths.task, "gold")]


def draw_panel(ax, paths: Paths, e: int, title: str | None = None, cmap="viridis") -> None:
    """Episode e (1-based) of `paths` on `ax`: the grid, the task's cells, the path coloured from
    the first step to the last, the time spent per cell, the rewarded steps; titled `title`
    (default the episode and its return)."""
    n = paths.size
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(n - 0.5, -0.5)  # y grows downwards: action 1 (y - 1) is up
    ax.set_aspect("equal")
    ax.set_xticks(np.arange(-0.5, n, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, n, 1), minor=True)
    ax.grid(which="minor", color="0.85", lw=0.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    for label, (x, y), c in _marks(paths):
        ax.add_patch(_square(x, y, c))
        ax.text(x, y + 0.42, label, ha="center", va="bottom", fontsize=6)
    pos = paths.positions[e - 1].astype(float)
    L = pos.shape[0] - 1
    visits = np.unique(pos, axis=0, return_counts=True)
    ax.scatter(visits[0][:, 0], visits[0][:, 1], s=12 * visits[1], color="tab:blue", alpha=0.15,
               lw=0, zorder=2)
    seg = np.stack([pos[:-1], pos[1:]], axis=1)
    moved = np.any(seg[:, 0] != seg[:, 1], axis=1)
    colours = np.linspace(0, 1, L)
    lc = LineCollection(seg[moved], cmap=cmap, lw=2, zorder=3)
    lc.set_array(colours[moved])
    lc.set_clim(0, 1)
    ax.add_collection(lc)
    for (x0, y0), (x1, y1), c in zip(seg[moved, 0], seg[moved, 1], colours[moved], strict=True):
        ax.annotate("", (x0 + 0.6 * (x1 - x0), y0 + 0.6 * (y1 - y0)), (x0, y0),
                    arrowprops=dict(arrowstyle="-|>", color=lc.cmap(c), lw=0, mutation_scale=8),
                    zorder=4)
    ax.plot(*pos[0], "o", color="k", ms=4, zorder=5)
    paid = pos[1:][paths.rewards[e - 1] > 0]
    if paid.size:
        ax.plot(paid[:, 0], paid[:, 1], "*", color="tab:red", ms=8, zorder=6)
    ax.set_title(title or f"episode {e}: return {paths.returns[e - 1]:g}", fontsize=8)


def panels_figure(rows, title: str) -> Figure:
    """rows: [(row label, [(paths, episode (1-based), panel title)])] -> one row of panels per
    entry (`draw_panel`), its label on the left; the colour key under them."""
    cols = max(len(panels) for _, panels in rows)
    height = 2.3 * len(rows) + 0.9
    fig = Figure(figsize=(2.1 * cols + 0.6, height))
    axes = fig.subplots(len(rows), cols, squeeze=False)
    for (row_label, panels), row in zip(rows, axes, strict=True):
        for ax, (paths, e, panel_title) in zip(row, panels, strict=False):
            draw_panel(ax, paths, e, panel_title)
        for ax in row[len(panels):]:
            ax.set_axis_off()
        # a long label on two or three lines of the panel's height, not over its neighbours
        row[0].set_ylabel("\n".join(textwrap.wrap(row_label, 26)), fontsize=8)
    fig.suptitle(title, fontsize=8.5)
    fig.text(0.5, 0.005, COLOUR_KEY.replace("\n", " "), ha="center", va="bottom", fontsize=6.5)
    # the title and the key keep their fixed height (in inches) however many rows there are
    fig.tight_layout(rect=(0, 0.25 / height, 1, 1 - 0.3 / height))
    return fig


def _square(x, y, colour):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), 1, 1, color=colour, alpha=0.6, lw=0, zorder=1)


def plot_paths(paths: Paths, path, title: str | None = None) -> Path:
    """`paths_figure` written to `path` (PNG, atomically)."""
    return save_figure(paths_figure(paths, title), path, dpi=90)


def paths_figure(paths: Paths, title: str | None = None) -> Figure:
    """One panel per shown episode (`shown_episodes`; two rows past four), and under them the
    return of every episode on this task with the shown ones marked."""
    eps = shown_episodes(paths.num_episodes)
    cols = len(eps) if len(eps) <= 4 else -(-len(eps) // 2)
    rows = -(-len(eps) // cols)
    fig = Figure(figsize=(max(2.1 * cols, 5.0), 2.35 * rows + 2.0))
    grid = fig.add_gridspec(rows + 1, cols, height_ratios=[1] * rows + [0.62])
    for i, e in enumerate(eps):
        draw_panel(fig.add_subplot(grid[i // cols, i % cols]), paths, e)
    ax = fig.add_subplot(grid[rows, :])
    x = np.arange(1, paths.num_episodes + 1)
    ax.plot(x, paths.returns, color="tab:red", lw=0.8)
    ax.plot(eps, paths.returns[np.asarray(eps) - 1], "o", color="k", ms=3)
    if paths.optimal is not None:
        ax.axhline(paths.optimal, color="k", ls="--", lw=0.8, label="optimal")
        ax.legend(fontsize=6, loc="lower right")
    ax.set_xlim(0.5, paths.num_episodes + 0.5)
    ax.set_xlabel("episode (black dots: drawn above)", fontsize=7)
    ax.set_ylabel("return", fontsize=7)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    start = "a random cell" if paths.env == "key-to-door" else "the centre"
    fig.suptitle(title or f"{paths.env}: held-out task {paths.task_id}, evaluation seed "
                 f"{paths.seed}", fontsize=8.5)
    fig.text(0.5, 0.005, f"start: {start} (black dot); {COLOUR_KEY}", ha="center", va="bottom",
             fontsize=6.5)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: a fixed bitmap font
        return ImageFont.load_default()


def episode_frames(paths: Paths, episodes=None, cell: int | None = None) -> list:
    """PIL images: each of `episodes` (default `shown_episodes`) drawn step by step (L + 1
    frames each: the path so far, the agent's cell, the return so far)."""
    from matplotlib import colormaps
    from PIL import Image, ImageDraw

    episodes = shown_episodes(paths.num_episodes) if episodes is None else list(episodes)
    n = paths.size
    cell = cell or max(12, 180 // n)
    top = 30
    W, H = n * cell + 1, n * cell + top + 1
    cmap = colormaps["viridis"]
    centre = lambda p: (p[0] * cell + cell / 2, top + p[1] * cell + cell / 2)  # noqa: E731
    fill = {"gold": (255, 215, 0), "tab:orange": (255, 160, 60), "tab:purple": (150, 100, 190)}
    font = _font(11)
    frames = []
    for e in episodes:
        pos, rew = paths.positions[e - 1], paths.rewards[e - 1]
        L = pos.shape[0] - 1
        for t in range(L + 1):
            im = Image.new("RGB", (W, H), "white")
            d = ImageDraw.Draw(im)
            for label, (x, y), c in _marks(paths):
                d.rectangle([x * cell, top + y * cell, (x + 1) * cell, top + (y + 1) * cell],
                            fill=fill[c])
                d.text((x * cell + 2, top + y * cell + 1), label[0], fill="black", font=font)
            for i in range(n + 1):
                d.line([(i * cell, top), (i * cell, H - 1)], fill=(215, 215, 215))
                d.line([(0, top + i * cell), (W - 1, top + i * cell)], fill=(215, 215, 215))
            for s in range(t):
                rgb = tuple(int(255 * v) for v in cmap(s / max(1, L - 1))[:3])
                d.line([centre(pos[s]), centre(pos[s + 1])], fill=rgb, width=3)
                if rew[s] > 0:
                    x, y = centre(pos[s + 1])
                    d.ellipse([x - 4, y - 4, x + 4, y + 4], outline=(214, 39, 40), width=2)
            x, y = centre(pos[t])
            r = cell * 0.3
            d.ellipse([x - r, y - r, x + r, y + r], fill=(31, 119, 180))
            d.text((3, 3), f"episode {e}  step {t}/{L}  return {rew[:t].sum():g}",
                   fill="black", font=font)
            frames.append(im)
    return frames


def write_gif(paths: Paths, path, episodes=None, ms_per_step: int = 90,
              hold_ms: int = 900) -> Path:
    """`episode_frames` as an animated GIF (each episode's last frame held), atomically."""
    from PIL import Image

    frames = episode_frames(paths, episodes)
    L = paths.positions.shape[1] - 1
    durations = [hold_ms if (i + 1) % (L + 1) == 0 else ms_per_step for i in range(len(frames))]
    pal = [f.convert("P", palette=Image.Palette.ADAPTIVE, colors=32) for f in frames]
    with replacing(path, suffix=".tmp.gif") as tmp:
        pal[0].save(tmp, format="GIF", save_all=True, append_images=pal[1:], duration=durations,
                    loop=0, optimize=True)
    return Path(path)


def outputs(out_dir, name: str) -> dict[str, Path]:
    out_dir = Path(out_dir)
    return {"png": out_dir / f"{name}_paths.png", "gif": out_dir / f"{name}_episodes.gif",
            "json": out_dir / f"{name}_paths.json"}


def write_trajectories(run_dir, out_dir=None, num_episodes: int = 200, task_id: int = 0,
                       seed: int = 0, force: bool = False) -> dict[str, Path]:
    """The paths figure, GIF and JSON of an experiment directory's AD seed 0 (module doc) into
    out_dir (default run_dir/figures); reused when they exist with the same settings and run
    fingerprint. -> {"png", "gif", "json"} paths."""
    run_dir = Path(run_dir)
    info = experiment_info(run_dir)
    check_grid(info["env"])
    ad = ad_run_dir(run_dir, info["name"])
    files = outputs(out_dir or run_dir / "figures", info["name"])
    stamp = {"version": VERSION, "run": fingerprint(ad), "env": info["env"], "split": SPLIT,
             "task": task_id, "seed": seed, "episodes": num_episodes,
             "refresh_every": info["refresh_every"], "temperature": info["temperature"]}
    if not force and unchanged(files, stamp):
        return files
    paths = record_paths(load_agent(ad), info["env"], task_id, seed, num_episodes,
                         info["refresh_every"], info["temperature"])
    eps = shown_episodes(num_episodes)
    preset = f" ({info['preset']} preset)" if info["preset"] else ""
    title = (f"{info['name']}{preset}: AD (training seed 0) in context, weights frozen,\n"
             f"on held-out task {task_id} {paths.task.tolist()}, evaluation seed {seed}")

    if distributed.is_main():  # every process of a job traced (a restore is collective)
        plot_paths(paths, files["png"], title=title)
        write_gif(paths, files["gif"], episodes=_gif_episodes(eps))
        write_json(files["json"], {**stamp, "experiment": info["name"], **paths_record(paths)},
                   indent=None, checksum=True)
    distributed.barrier(f"adjax-trajectories-{files['json']}")
    return files


def paths_record(paths: Paths) -> dict:
    """The JSON fields of a `<name>_paths.json` that `shown_paths` reads back: the task's cells,
    every episode's return, the shown episodes' positions and rewards."""
    eps = shown_episodes(paths.num_episodes)
    return {"task_cells": paths.task.tolist(), "returns": paths.returns.round(4).tolist(),
            "shown": {str(e): paths.positions[e - 1].tolist() for e in eps},
            "shown_rewards": {str(e): paths.rewards[e - 1].tolist() for e in eps}}


def shown_paths(record: dict, source: str = "the record") -> tuple[Paths, list[int]]:
    """A `<name>_paths.json`'s content back as `Paths` of its shown episodes only (episode i of
    the result is the i-th shown) and the shown episodes' numbers, for drawing beside other
    runs' (an ablation's values)."""
    if "shown_rewards" not in record:
        raise PictureError(f"{source}: drawn by pictures version {record.get('version')}, which "
                           f"kept no rewards; draw it again (`write_trajectories`)")
    eps = sorted(int(e) for e in record["shown"])
    env = envs.make(record["env"])[0]
    positions = np.asarray([record["shown"][str(e)] for e in eps], np.int64)
    rewards = np.asarray([record["shown_rewards"][str(e)] for e in eps], np.float64)
    task = np.asarray(record["task_cells"])
    try:
        optimal = float(optimal_return(record["env"], task))
    except (NotImplementedError, ValueError):
        optimal = None
    paths = Paths(record["env"], int(env.size), task, int(record["task"]), int(record["seed"]),
                  positions, np.zeros(rewards.shape, np.int64), rewards, optimal)
    return paths, eps


def _gif_episodes(eps: list[int]) -> list[int]:
    """At most four episodes in the GIF (the first and the last three shown) to keep it small."""
    return eps if len(eps) <= 4 else [eps[0], *eps[-3:]]


def summary_figures(results: dict, out: Path) -> list[Path]:
    """The runner's summary stage: for a grid env's experiment, its trajectory pictures (PNG,
    GIF) in out/figures over min(200, the held-out split's episodes) episodes; [] otherwise."""

    curves = results.get("curves", {}).get(SPLIT, {})
    if results.get("env") not in GRID_ENVS or "AD" not in curves:
        return []
    episodes = min(PANEL_EPISODES[-1], len(curves["AD"]["per_seed"][0]))
    files = write_trajectories(out, num_episodes=episodes)
    return [files["png"], files["gif"]]


def main(argv=None) -> dict[str, Path]:
    ap = picture_parser(
        "python -m adjax.report.trajectories",
        "Draw a trained AD agent's paths, episode by episode, on one held-out task of a grid "
        f"environment ({', '.join(GRID_ENVS)}).",
        "an experiment directory (experiment.json, runs/ad/seed0), e.g. runs/darkroom",
        "index into the held-out tasks", episodes=200)
    files = draw_from_args(ap, argv, write_trajectories)
    returns = read_json(files["json"])["returns"]
    print(f"returns, episodes {', '.join(map(str, shown_episodes(len(returns))))}: "
          + ", ".join(f"{returns[e - 1]:g}" for e in shown_episodes(len(returns))))
    print_files(files)
    return files


if __name__ == "__main__":
    from adjax.devices import use_cpu_cores

    use_cpu_cores()
    main()
