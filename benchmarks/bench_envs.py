"""Environments: env-steps/s of a random policy vmapped over tasks in one jitted scan, vs numpy."""

import time

import jax
import jax.numpy as jnp
import numpy as np

from adjax import devices, envs

MOVES = np.array([[0, 0], [0, -1], [1, 0], [0, 1], [-1, 0]], np.int32)  # Dark Room's actions


def _best_of(fn, repeats):
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def jax_rollout(name: str, n: int, steps: int):
    """A jitted fn(key) running a uniformly random policy for `steps` steps on n tasks -> total
    reward (so nothing is dead code). Actions: one uint32 word per task per step, drawn for the
    whole block before the scan, four actions per 32-bit word (8 bits each, multiply-shift into
    [0, A): within 0.4% of uniform); the env's own step draws what its rules need. The tasks
    are split across the local devices (`adjax.devices`), as collection splits its chunks."""
    env, params = envs.make(name)
    tasks = envs.sample_tasks(name, jax.random.key(1), n, split="train")
    ps = devices.shard_tasks(jax.vmap(lambda t: env.with_task(params, t))(tasks))
    step = jax.vmap(env.step)

    @jax.jit
    def rollout(key, ps):
        k_reset, k_act, k_env = jax.random.split(key, 3)
        _, state = jax.vmap(env.reset)(jax.random.split(k_reset, n), ps)
        bits = jax.random.bits(k_act, (steps // 4, 1, n), jnp.uint32)
        bytes_ = (bits >> jnp.arange(0, 32, 8, dtype=jnp.uint32)[:, None]) & 0xFF
        actions = (bytes_ * env.num_actions >> 8).astype(jnp.int32).reshape(steps, n)
        env_keys = jax.random.split(k_env, n)

        def body(carry, inp):
            state, total = carry
            t, a_N = inp
            # A fresh key per step and task, as a learner would pass; only Key-to-Door's reset
            # reads it (Dark Room's step ignores it, so XLA drops this hash there).
            keys = jax.vmap(jax.random.fold_in, (0, None))(env_keys, t)
            _, state, r, _, _, _ = step(keys, state, a_N, ps)
            return (state, total + r), None

        (_, total), _ = jax.lax.scan(body, (state, jnp.zeros(n, jnp.float32)),
                                     (jnp.arange(steps), actions))
        return total

    return lambda key: rollout(key, ps)


def numpy_darkroom(goals: np.ndarray, steps: int, size: int = 9, ep_len: int = 20, seed: int = 0):
    """The same Dark Room vectorised over tasks in numpy: random actions, walls, reward 1 on every
    step at the goal, reset to the centre every ep_len steps -> total reward per task."""
    rng = np.random.default_rng(seed)
    n = len(goals)
    pos = np.full((n, 2), size // 2, np.int32)
    total = np.zeros(n, np.float32)
    for t in range(steps):
        a = rng.integers(0, 5, n)
        pos = np.clip(pos + MOVES[a], 0, size - 1)
        total += np.all(pos == goals, axis=1)
        if (t + 1) % ep_len == 0:
            pos[:] = size // 2
    return total


def run(quick: bool = False) -> dict:
    sizes = (1, 64, 256) if quick else (1, 64, 1024, 8192)
    budget = 2e5 if quick else 8e6  # env steps per timed call (fewer for one task)
    rows = []
    for n in sizes:
        steps = int(min(max(budget / n, 200), 20_000 if n == 1 else 1e9)) // 20 * 20
        fn = jax_rollout("darkroom", n, steps)
        jax.block_until_ready(fn(jax.random.key(0)))  # compile
        dt = _best_of(lambda f=fn: jax.block_until_ready(f(jax.random.key(0))), 3)
        goals = np.asarray(envs.sample_tasks("darkroom", jax.random.key(1), n, split="train"))
        np_steps = max(steps // 10 // 20 * 20, 20) if n < 1024 else max(steps // 4 // 20 * 20, 20)
        np_dt = _best_of(lambda g=goals, s=np_steps: numpy_darkroom(g, s), 3)
        rate, np_rate = n * steps / dt, n * np_steps / np_dt
        rows.append({"tasks": n, "steps_per_s": rate, "numpy_steps_per_s": np_rate,
                     "ratio_vs_numpy": rate / np_rate})
    others = {}
    n_other = 256 if quick else 1024
    for name in ("darkroom-hard", "key-to-door", "bandit"):
        steps = int(budget / n_other) // 20 * 20
        fn = jax_rollout(name, n_other, steps)
        jax.block_until_ready(fn(jax.random.key(0)))
        dt = _best_of(lambda f=fn: jax.block_until_ready(f(jax.random.key(0))), 3)
        others[name] = n_other * steps / dt
    lines = [
        "A uniformly random policy, vmapped over tasks inside one jitted `lax.scan` (actions drawn "
        "as one block of random words before the scan, four 8-bit actions per word; Dark Room's "
        "step draws none). numpy: the "
        "same Dark Room rules vectorised over tasks (one `rng.integers` call per step), same "
        "command. Compile time excluded; best of 3 timed calls on each side. "
        f"jax on {jax.local_device_count()} CPU device(s), tasks split across them "
        "(`adjax.devices`; one task: one device); numpy on one core.", "",
        "| tasks | jax env-steps/s | numpy env-steps/s | ratio |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['tasks']} | {r['steps_per_s'] / 1e6:.2f} M | "
                     f"{r['numpy_steps_per_s'] / 1e6:.2f} M | {r['ratio_vs_numpy']:.1f}x |")
    lines += ["", f"Other environments at {n_other} tasks (jax): " + ", ".join(
        f"{k} {v / 1e6:.1f} M/s" for k, v in others.items()) + "."]
    return {"title": "Environments (random policy)", "markdown": "\n".join(lines),
            "results": {"darkroom": rows, f"others_at_{n_other}_tasks": others}}


if __name__ == "__main__":
    import sys

    print(run(quick="--quick" in sys.argv)["markdown"])
