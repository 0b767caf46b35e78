"""In-context evaluation: env-steps/s with the KV cache vs recomputing the context each step."""

import time

import jax

from adjax import devices, envs
from adjax.evaluate import in_context
from adjax.evaluate.agents import TransformerAgent
from adjax.evaluate.results import DEFAULT_BATCH, chunk_size, chunks
from adjax.model import cpu_model, init_params

CONTEXT = 80  # steps: 4 Dark Room episodes


def make_eval(layout: str, pairs: int, episodes: int, refresh_every: int | None):
    """-> (fn(), compile seconds): `pairs` held-out task x seed pairs, random-init weights, run as
    `evaluate_run` runs them: its equal vmapped `chunks(pairs)` (the rates count only real
    pairs), one compiled call each."""
    cfg = cpu_model((9, 9), 5, CONTEXT, layout=layout, obs_encoder="factored")
    agent = TransformerAgent.create(cfg, init_params(cfg, jax.random.key(0)))
    env, params = envs.make("darkroom")
    tasks = envs.sample_tasks("darkroom", jax.random.key(1), pairs, split="test")
    ps = jax.vmap(lambda t: env.with_task(params, t))(tasks)
    keys = jax.random.split(jax.random.key(2), pairs)
    parts = [devices.shard_tasks(jax.tree.map(lambda x, i=i: x[i], (keys, ps)))
             for i, _ in chunks(pairs)]
    run = jax.jit(jax.vmap(lambda k, p: in_context(k, agent, env, p, episodes,
                                                   refresh_every=refresh_every)))
    t = time.perf_counter()
    compiled = run.lower(*parts[0]).compile()
    compile_s = time.perf_counter() - t
    return (lambda: jax.block_until_ready([compiled(*c) for c in parts])), compile_s


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def run(quick: bool = False) -> dict:
    pairs = 8 if quick else 100
    eps_cached, eps_full = (4, 2) if quick else (50, 5)
    results, rows = {"pairs": pairs, "context_steps": CONTEXT}, []
    for layout in ("one", "three"):
        cached, c_compile = make_eval(layout, pairs, eps_cached, None)
        full, f_compile = make_eval(layout, pairs, eps_full, 1)
        c_rate = pairs * eps_cached * 20 / timed(cached)
        f_rate = pairs * eps_full * 20 / timed(full)
        results[layout] = {"cached_steps_per_s": c_rate, "full_recompute_steps_per_s": f_rate,
                           "speedup": c_rate / f_rate, "compile_s_cached": c_compile,
                           "compile_s_full": f_compile}
        rows.append(f"| {layout} | {pairs} | {c_rate:,.0f} | {f_rate:,.0f} | "
                    f"{c_rate / f_rate:.1f}x |")
    n_long = 10 if quick else 1000
    long_fn, compile_s = make_eval("one", pairs, n_long, None)
    long_s = timed(long_fn)
    results["episodes_1000"] = {"episodes": n_long, "seconds": long_s, "compile_s": compile_s}
    md = (
        f"Dark Room held-out goals, CPU-sized model (d 64, 4 layers, ff 256, random weights), "
        f"context {CONTEXT} steps, {pairs} task x seed pairs run as `evaluate_run` runs them "
        f"(vmapped chunks of {chunk_size(pairs)}, the default `batch_size` {DEFAULT_BATCH}: a "
        "chunk's KV caches stay in cache memory; each chunk split across "
        f"{jax.local_device_count()} CPU device(s)); compile time excluded. Cached: the default "
        "block refresh (the last 60 steps re-encoded once per "
        "20-step episode, then one-step decoding from the KV cache). Full recompute: "
        "`refresh_every=1`, the whole context re-encoded before every action, as the peers do. "
        f"Timed on {eps_cached} (cached) and {eps_full} (full) episodes.\n\n"
        "| layout | pairs | cached env-steps/s | full-recompute env-steps/s | speed-up |\n"
        "|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        f"{n_long} episodes x {pairs} pairs, one-token layout, cached: {long_s:.0f} s "
        f"(+{compile_s:.0f} s compile).\n")
    return {"title": "In-context evaluation (adjax.evaluate)", "markdown": md, "results": results}


if __name__ == "__main__":
    import sys

    print(run(quick="--quick" in sys.argv)["markdown"])
