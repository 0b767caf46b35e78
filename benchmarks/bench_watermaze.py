"""Watermaze: rendered frames/s of a random policy on 1024 arenas in one jitted scan, vs numpy.

Also the numpy reference of Watermaze's rules (step and renderer, vectorised over arenas) that
the tests compare the JAX environment with.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np

from adjax import devices
from adjax.envs import watermaze
from adjax.envs.watermaze import Watermaze

COLOURS = np.array([(255, 0, 0), (255, 160, 0), (255, 255, 0), (0, 200, 0), (0, 200, 200),
                    (0, 0, 255), (160, 0, 255), (255, 0, 200)], "<u4")  # sectors 0..7
WORDS = (COLOURS << np.array([0, 8, 16], "<u4")).sum(1, "<u4")  # as little-endian RGB0 words
TURNS = np.array([0, 0, 0, 0, 1, -1, 1, -1]) * np.pi / 8
MOVE_ANGLE = np.array([0, np.pi, np.pi / 2, -np.pi / 2, 0, 0, 0, 0])  # off the new heading
MOVES = np.array([1, 1, 1, 1, 0, 0, 1, 1], bool)


def numpy_columns(pos_N2, heading_N, height: int, width: int):
    """The rules as written, float64: ray angle heading + atan(1 - (2j + 1)/W), unit direction,
    hit distance r along the ray, perpendicular distance r cos(ray angle - heading), sector
    floor(phi / (pi/4)) of the hit angle phi = atan2 in [0, 2 pi), band half-height
    H / (4 d_perp). -> (sector int[N, W], half int[N, W], phi float[N, W], H / (4 d) [N, W])."""
    pos = np.asarray(pos_N2, np.float64)
    off_W = np.arctan(1 - (2 * np.arange(width) + 1) / width)
    ang_NW = np.asarray(heading_N, np.float64)[:, None] + off_W[None, :]
    ux, uy = np.cos(ang_NW), np.sin(ang_NW)
    px, py = pos[:, :1], pos[:, 1:]
    b = px * ux + py * uy
    r = -b + np.sqrt(b * b + 1 - (px * px + py * py))
    phi = np.mod(np.arctan2(py + r * uy, px + r * ux), 2 * np.pi)
    sector = np.minimum(np.floor(phi / (np.pi / 4)).astype(np.int64), 7)
    quotient = height / (4 * r * np.cos(off_W)[None, :])
    half = np.floor(np.minimum(quotient, height)).astype(np.int64)
    return sector, half, phi, quotient


def numpy_render(pos_N2, heading_N, height: int, width: int) -> np.ndarray:
    """uint8[N, H, W, 3] frames by the rules: wall colour in the band |row - H//2| <= half,
    sky (200, 200, 200) above it, floor (60, 60, 60) below it. Pixels are chosen as little-endian
    RGB0 words and viewed as bytes (4.5x faster in numpy than choosing bytes: a fair reference)."""
    sector, half, _, _ = numpy_columns(pos_N2, heading_N, height, width)
    rows_H = np.arange(height)
    wall = np.abs(rows_H - height // 2)[None, :, None] <= half[:, None, :]
    grey = (np.where(rows_H < height // 2, 200, 60) * 0x010101).astype("<u4")
    word = np.where(wall, WORDS[sector][:, None, :], grey[None, :, None])
    return word.view(np.uint8).reshape(*wall.shape, 4)[..., :3]


def numpy_step(pos_N2, heading_N, found_N, actions_N, tasks_N2):
    """One step of the rules for N arenas, no reset -> (pos, heading, found, reward)."""
    heading = np.mod(heading_N + TURNS[actions_N], 2 * np.pi)
    ang = heading + MOVE_ANGLE[actions_N]
    step = 0.1 * MOVES[actions_N][:, None] * np.stack([np.cos(ang), np.sin(ang)], -1)
    pos = pos_N2 + step
    radius = np.linalg.norm(pos, axis=-1, keepdims=True)
    pos = np.where(radius > 0.9, pos * 0.9 / np.maximum(radius, 0.9), pos)
    on = np.linalg.norm(pos - tasks_N2, axis=-1) <= 0.15
    return pos, heading, found_N | on, (on & ~found_N).astype(np.float32)


def numpy_rollout(tasks_N2, steps: int, height: int, width: int, ep_len: int = 50, seed: int = 0):
    """Random policy, step + render every step, frames folded into an xor accumulator (as the
    JAX side does) -> (total reward per arena, accumulator)."""
    rng = np.random.default_rng(seed)
    n = len(tasks_N2)
    pos, heading = np.zeros((n, 2)), rng.uniform(0, 2 * np.pi, n)
    found, total = np.zeros(n, bool), np.zeros(n, np.float32)
    acc = np.zeros((n, height, width, 3), np.uint8)
    for t in range(steps):
        pos, heading, found, r = numpy_step(pos, heading, found, rng.integers(0, 8, n), tasks_N2)
        total += r
        if (t + 1) % ep_len == 0:
            pos, heading, found = np.zeros((n, 2)), rng.uniform(0, 2 * np.pi, n), found & False
        acc ^= numpy_render(pos, heading, height, width)
    return total, acc


def jax_rollout(n: int, steps: int, height: int, width: int):
    """A jitted fn(key) running a uniformly random policy for `steps` steps on n arenas; every
    frame is xor-ed into a carried uint8[n, H, W, 3] accumulator, so no pixel is dead code and
    none is stored. Actions: 8 bits of one word per step each, 4 per word (exactly uniform over
    8 actions). Arenas split across the local devices (`adjax.devices`)."""
    env = Watermaze(height, width)
    tasks = jnp.asarray(watermaze.task_sets()["train"][:n])
    ps = devices.shard_tasks(jax.vmap(lambda t: env.with_task(env.default_params, t))(tasks))
    step = jax.vmap(env.step)

    @jax.jit
    def rollout(key, ps):
        k_reset, k_act, k_env = jax.random.split(key, 3)
        _, state = jax.vmap(env.reset)(jax.random.split(k_reset, n), ps)
        bits = jax.random.bits(k_act, (-(-steps // 4), 1, n), jnp.uint32)
        bytes_ = (bits >> jnp.arange(0, 32, 8, dtype=jnp.uint32)[:, None]) & 0xFF
        actions = (bytes_ >> 5).astype(jnp.int32).reshape(-1, n)[:steps]
        env_keys = jax.random.split(k_env, n)

        def body(carry, inp):
            state, acc, total = carry
            t, a_N = inp
            keys = jax.vmap(jax.random.fold_in, (0, None))(env_keys, t)
            obs, state, r, _, _, _ = step(keys, state, a_N, ps)
            return (state, acc ^ obs, total + r), None

        acc0 = jnp.zeros((n, height, width, 3), jnp.uint8)
        (_, acc, total), _ = jax.lax.scan(body, (state, acc0, jnp.zeros(n, jnp.float32)),
                                          (jnp.arange(steps), actions))
        return acc, total

    return lambda key: rollout(key, ps)


def _best_of(fn, repeats):
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run(quick: bool = False) -> dict:
    n = 1024
    tasks = watermaze.task_sets()["train"][:n].astype(np.float64)
    rows = []
    for height, width, steps, np_steps in ((72, 96, 40, 4), (24, 32, 200, 20)):
        if quick:
            steps, np_steps = steps // 4, max(np_steps // 4, 1)
        fn = jax_rollout(n, steps, height, width)
        jax.block_until_ready(fn(jax.random.key(0)))  # compile
        dt = _best_of(lambda f=fn: jax.block_until_ready(f(jax.random.key(0))), 3)
        np_dt = _best_of(lambda s=np_steps, h=height, w=width: numpy_rollout(tasks, s, h, w), 2)
        rate, np_rate = n * steps / dt, n * np_steps / np_dt
        rows.append({"height": height, "width": width, "arenas": n, "frames_per_s": rate,
                     "numpy_frames_per_s": np_rate, "ratio_vs_numpy": rate / np_rate})
    lines = [
        f"A uniformly random policy on {n} arenas, vmapped inside one jitted `lax.scan`: each step "
        "is the env's `step` (move, reward, auto-reset, first-person frame); every frame is "
        "xor-ed into a carried uint8 accumulator so none is dead code or stored. numpy: the same "
        "rules and renderer vectorised over arenas (float64 column maths, per-pixel `np.where`), "
        "same command. Compile time excluded; best of 3 (jax) and 2 (numpy) timed calls. "
        f"jax on {jax.local_device_count()} CPU device(s), arenas split across them; numpy on "
        "one core.", "",
        "| frame | jax frames/s | numpy frames/s | ratio |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['height']}x{r['width']} | {r['frames_per_s'] / 1e3:.0f} k | "
                     f"{r['numpy_frames_per_s'] / 1e3:.1f} k | {r['ratio_vs_numpy']:.1f}x |")
    return {"title": "Watermaze (random policy, first-person frames)",
            "markdown": "\n".join(lines), "results": {"watermaze": rows}}


if __name__ == "__main__":
    import sys

    print(run(quick="--quick" in sys.argv)["markdown"])
