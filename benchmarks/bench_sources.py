"""Source learners: env-steps/s of history collection (Q-learning vs numpy; A2C vs matmul peak)."""

import time

import jax
import jax.numpy as jnp
import numpy as np

from adjax import devices
from adjax.data.collect import _chunk_fn
from adjax.sources import a2c, qlearning

# Learners at a time per device (the presets' ExperimentConfig.task_batch) by actors per task
TASK_BATCH = {100: 1, 1: 4}
MOVES = np.array([[0, 0], [0, -1], [1, 0], [0, 1], [-1, 0]], np.int32)


def _darkroom():
    from adjax import envs

    env, params = envs.make("darkroom")
    train, _ = envs.task_split("darkroom")
    return env, params, np.asarray(train)


def _tasks(goals, n):
    return goals[np.arange(n) % len(goals)]


def _best_of(fn, repeats):
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def numpy_qlearning(cfg: qlearning.Config, goals, seed=0, size=9, ep_len=20):
    """The same learner vectorised over tasks in numpy; returns (obs, actions, rewards) [N, T]."""
    rng = np.random.default_rng(seed)
    N, A, T = len(goals), 5, cfg.num_episodes * ep_len
    q = np.full((N, size * size, A), cfg.q_init, np.float32)
    pos = np.full((N, 2), size // 2, np.int32)
    n = np.arange(N)
    obs_h = np.empty((N, T, 2), np.int8)
    act_h = np.empty((N, T), np.uint8)
    rew_h = np.empty((N, T), np.float16)
    for e in range(cfg.num_episodes):
        span = max(cfg.eps_decay_frac * cfg.num_episodes, 1.0)
        eps = cfg.eps_start + min(e / span, 1.0) * (cfg.eps_end - cfg.eps_start)
        for t in range(ep_len):
            s = pos[:, 0] * size + pos[:, 1]
            qs = q[n, s]
            greedy = np.argmax(qs + rng.random((N, A), np.float32) * 1e-6, axis=1)
            a = np.where(rng.random(N) < eps, rng.integers(0, A, N), greedy)
            new = np.clip(pos + MOVES[a], 0, size - 1)
            r = np.all(new == goals, axis=1).astype(np.float32)
            s2 = new[:, 0] * size + new[:, 1]
            target = r + cfg.gamma * q[n, s2].max(1)
            q[n, s, a] += cfg.lr * (target - q[n, s, a])
            k = e * ep_len + t
            obs_h[:, k], act_h[:, k], rew_h[:, k] = pos, a, r
            pos = new if t < ep_len - 1 else np.full((N, 2), size // 2, np.int32)
    return obs_h, act_h, rew_h


def bench_qlearning(env, params, goals, sizes, num_episodes):
    cfg = qlearning.Config(num_episodes=num_episodes)
    fn = _chunk_fn(cfg, env, 1, None, ("learning",), 0)
    rows = []
    for n in sizes:
        tasks = jnp.asarray(_tasks(goals, n))
        ps = jax.vmap(lambda g: env.with_task(params, g))(tasks)
        keys, ps = devices.shard_tasks((jax.random.split(jax.random.key(0), n), ps))
        jax.device_get(fn(keys, ps))  # compile
        dt = _best_of(lambda k=keys, p=ps: jax.device_get(fn(k, p)), 3)
        steps = n * num_episodes * env.episode_len
        t_np = _tasks(goals, n)
        np_dt = _best_of(lambda t=t_np: numpy_qlearning(cfg, t), 1)
        np_rate = steps / np_dt
        rows.append({"tasks": n, "steps_per_s": steps / dt, "numpy_steps_per_s": np_rate,
                     "ratio_vs_numpy": steps / dt / np_rate})
    return rows


def a2c_flops_per_update(cfg: a2c.Config, in_dim: int, num_actions: int) -> float:
    """Matmul FLOPs of one update per task: rollout forwards, the bootstrap forward, fwd+bwd."""
    dims = (in_dim, *cfg.hidden)
    per_row = 2 * (sum(a * b for a, b in zip(dims[:-1], dims[1:], strict=True))
                   + cfg.hidden[-1] * (num_actions + 1))
    rows = cfg.unroll * cfg.num_actors
    return per_row * rows * (1 + 1 + 3)


def matmul_gflops(n=2048, repeats=5):
    x = jnp.ones((n, n), jnp.float32)
    f = jax.jit(jnp.dot)
    f(x, x).block_until_ready()
    dt = _best_of(lambda: f(x, x).block_until_ready(), repeats)
    return 2 * n**3 / dt / 1e9


def bench_a2c(env, params, goals, num_tasks, num_updates, num_actors=100, task_batch=None):
    cfg = a2c.Config(num_updates=num_updates, num_actors=num_actors)
    fn = _chunk_fn(cfg, env, 1, None, ("learning",), 0, task_batch)
    peak_before = matmul_gflops()
    tasks = jnp.asarray(_tasks(goals, num_tasks))
    ps = jax.vmap(lambda g: env.with_task(params, g))(tasks)
    keys, ps = devices.shard_tasks((jax.random.split(jax.random.key(0), num_tasks), ps))
    jax.device_get(fn(keys, ps))
    dt = _best_of(lambda: jax.device_get(fn(keys, ps)), 2)
    steps = num_tasks * num_updates * cfg.unroll * cfg.num_actors
    gflops = a2c_flops_per_update(cfg, 18, env.num_actions) * num_tasks * num_updates / dt / 1e9
    peak = max(peak_before, matmul_gflops())  # best of two: the CPU may be shared
    return {"tasks": num_tasks, "actors": cfg.num_actors, "task_batch": task_batch,
            "steps_per_s": steps / dt,
            "gflops": gflops, "matmul_peak_gflops": peak, "share_of_peak": gflops / peak}


def run(quick: bool = False) -> dict:
    env, params, goals = _darkroom()
    sizes = (64, 256) if quick else (64, 1024, 8192)
    q = bench_qlearning(env, params, goals, sizes, 20 if quick else 100)
    # The two shapes of the A3C-source experiments: 100 actors on each of 64 tasks (Dark Room's
    # a3c preset), one actor on each of 2048 tasks (the single-stream study); each with every
    # chunk's tasks vmapped at once (the reference) and with the presets' learners at a time.
    a2cs = [bench_a2c(env, params, goals, tasks, 5 if quick else 20, num_actors=actors,
                      task_batch=tb)
            for actors, tasks in ((100, 4 if quick else 64), (1, 256 if quick else 2048))
            for tb in (None, TASK_BATCH[actors])]
    for ref, grouped in zip(a2cs[::2], a2cs[1::2], strict=True):
        grouped["speedup_vs_vmap"] = grouped["steps_per_s"] / ref["steps_per_s"]
    lines = ["Dark Room, histories recorded and copied to host in the dataset's dtypes "
             f"(the `collect` chunk function, tasks split across {jax.local_device_count()} "
             "CPU device(s) as `collect` splits them). numpy: the same Q-learner vectorised "
             "over tasks, on one core.",
             "", "| learner | tasks | env-steps/s | numpy env-steps/s | ratio |",
             "|---|---|---|---|---|"]
    for r in q:
        lines.append(f"| Q-learning | {r['tasks']} | {r['steps_per_s'] / 1e6:.1f} M | "
                     f"{r['numpy_steps_per_s'] / 1e6:.2f} M | {r['ratio_vs_numpy']:.1f}x |")
    for a in a2cs:
        how = ("all at once" if a["task_batch"] is None
               else f"{a['task_batch']} at a time: {a['speedup_vs_vmap']:.2f}x")
        lines.append(f"| A2C, {a['actors']} actor(s)/task, {how} | {a['tasks']} | "
                     f"{a['steps_per_s'] / 1e3:.0f} k | | |")
    scale = q[-1]["steps_per_s"] / q[-2]["steps_per_s"]
    lines += ["", f"Q-learning throughput {sizes[-1]} vs {sizes[-2]} tasks: {scale:.2f}x."]
    lines += ["", "A2C learners per device: all of a chunk vmapped at once, or a few at a time "
              "(`devices.map_tasks`, the presets' `task_batch`; the same bits), ratio against "
              "the first in the same command."]
    lines += [f"A2C, {a['actors']} actor(s) x {a['tasks']} tasks, "
              f"{'all at once' if a['task_batch'] is None else str(a['task_batch']) + ' at a time'}"
              f": {a['gflops']:.1f} GFLOP/s of "
              f"matmul work = {100 * a['share_of_peak']:.0f}% of the measured float32 matmul "
              f"peak ({a['matmul_peak_gflops']:.0f} GFLOP/s, jitted 2048² jnp.dot)."
              for a in a2cs]
    return {"title": "Source learners (history collection)", "markdown": "\n".join(lines),
            "results": {"qlearning": q, "a2c": a2cs[0], "a2c_grouped": a2cs[1],
                        "a2c_one_actor": a2cs[2], "a2c_one_actor_grouped": a2cs[3],
                        "scaling_last_vs_prev": scale}}


if __name__ == "__main__":
    print(run(quick=True)["markdown"])
