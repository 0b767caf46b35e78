"""Training throughput of the AD transformer: tokens/s, share of the CPU matmul peak, vs PyTorch."""

import os
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from adjax.model import cpu_model, paper_model, with_image_encoder
from adjax.train import TrainConfig, init_state, make_train_chunk
from adjax.train.step import data_mesh, replicate, to_device
from adjax.train.windows import Arrays

TORCH_SCRIPT = Path(__file__).with_name("torch_ad_step.py")  # our own PyTorch reference
CONTEXT = 80  # steps: 4 Dark Room episodes


def matmul_peak(n: int = 2048, reps: int = 5) -> float:
    """FLOP/s of a jitted float32 n x n jnp.dot (best of reps)."""
    x = jnp.ones((n, n), jnp.float32)
    f = jax.jit(jnp.dot)
    f(x, x).block_until_ready()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        f(x, x).block_until_ready()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def approx_flops(cfg, params, batch: int) -> float:
    """fwd+bwd FLOPs per step, the torch script's formula: 6 P N + 12 L N^2 d (full attention)."""
    n_params = sum(x.size for x in jax.tree.leaves(params))
    tokens = batch * cfg.max_tokens
    return 6.0 * n_params * tokens + 12.0 * cfg.num_layers * cfg.max_tokens * cfg.d_model * tokens


def time_train(cfg, batch: int, steps_per_call: int, calls: int) -> dict:
    rng = np.random.default_rng(0)
    H, T = 64, 400
    mesh = data_mesh()  # the batch split across the local devices, as `fit` splits it
    obs = (rng.integers(0, 256, (H, T, *cfg.obs_dims)).astype(np.uint8)
           if cfg.obs_encoder == "image" else rng.integers(0, 9, (H, T, 2)).astype(np.int8))
    data = to_device(Arrays(obs,
                            rng.integers(0, 5, (H, T)).astype(np.uint8),
                            rng.integers(0, 2, (H, T)).astype(np.float16), 20), mesh)
    tc = TrainConfig(batch_size=batch, steps_per_call=steps_per_call)
    chunk, state = make_train_chunk(cfg, tc, mesh), replicate(init_state(cfg, tc), mesh)
    t = time.perf_counter()
    compiled = chunk.lower(state, data, steps_per_call).compile()
    compile_s = time.perf_counter() - t
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    state, m = chunk(state, data, steps_per_call)
    m["loss"].block_until_ready()
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        state, m = chunk(state, data, steps_per_call)
        m["loss"].block_until_ready()
        times.append((time.perf_counter() - t) / steps_per_call)
    step_s = float(np.median(times))
    flops = approx_flops(cfg, state.params, batch)
    return {"step_s": step_s, "tokens_per_s": batch * cfg.max_tokens / step_s,
            "flop_per_step": flops, "flop_per_s": flops / step_s,
            "xla_flop_per_step": float((cost or {}).get("flops", float("nan"))) / steps_per_call,
            "compile_s": compile_s}


def torch_reference(tokens: int, tps: int, batch: int, steps: int) -> float | None:
    """tokens/s of the PyTorch script in a subprocess, or None without torch."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    cmd = [sys.executable, str(TORCH_SCRIPT), "--tokens", str(tokens), "--tokens-per-step",
           str(tps), "--batch", str(batch), "--steps", str(steps), "--warmup", "1"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=os.environ)
    return float(out.stdout.strip().splitlines()[-1].split()[1])


def run(quick: bool = False) -> dict:
    batch, spc, calls = (16, 2, 1) if quick else (128, 3, 2)
    peak = matmul_peak()
    cases = {
        "cpu (ff 256), one token/step": cpu_model((9, 9), 5, CONTEXT),
        "paper (ff 2048), one token/step": paper_model((9, 9), 5, CONTEXT),
        "paper (ff 2048), three tokens/step": paper_model((9, 9), 5, CONTEXT, layout="three"),
    }
    results = {"matmul_peak_gflop_s": peak / 1e9, "batch": batch, "context_steps": CONTEXT}
    rows = []
    for name, cfg in cases.items():
        r = time_train(cfg, batch, spc, calls)
        r["peak_share"] = r["flop_per_s"] / peak
        if cfg.ff_dim == 2048:
            ref = torch_reference(cfg.max_tokens, cfg.tokens_per_step, batch, 2 if quick else 4)
            r["torch_tokens_per_s"] = ref
            r["vs_torch"] = None if ref is None else r["tokens_per_s"] / ref
        results[name] = r
        vs = r.get("vs_torch")
        rows.append(f"| {name} | {cfg.max_tokens} | {r['step_s']:.3f} | {r['tokens_per_s']:,.0f} | "
                    f"{r['flop_per_s'] / 1e9:.1f} | {100 * r['peak_share']:.0f}% | "
                    f"{'n/a' if vs is None else f'{vs:.2f}x'} |")
    # Training seeds as a vmapped axis of one step: each seed has its own weights, so the step
    # does at least the FLOPs of one model on a batch three times as large; if that batch costs
    # ~3x here, no vmap over seeds can make 3 seeds cost <= 2x one (issue target).
    cpu = cases["cpu (ff 256), one token/step"]
    three = time_train(cpu, 3 * batch, spc, calls)["step_s"]
    ratio = three / results["cpu (ff 256), one token/step"]["step_s"]
    results["seeds"] = {"step_s_batch_x3": three, "ratio_batch_x3": ratio}
    md_seeds = (f"\nThree training seeds in one step (a vmapped seed axis) cost at least one "
                f"model's step on a 3x batch ({3 * batch} windows, cpu model): {ratio:.2f}x the "
                f"step of {batch} windows (target for 3 seeds: <= 2x one; the batch already fills "
                "the cores when the ratio is near 3).\n")
    # Image models (Watermaze): XLA:CPU runs convolutions several times slower inside a loop
    # body, so a one-step call runs outside any loop (`make_train_chunk`); the ratio is a loop of
    # steps_per_call steps over that, per step (the Watermaze quick preset's model and batch).
    frames = (12, 16, 3)
    image = with_image_encoder(cpu_model(frames, 8, 150), frames, "cpu")
    one = time_train(image, 16, 1, calls + 1)["step_s"]
    looped = time_train(image, 16, spc, calls)["step_s"]
    results["image_loop"] = {"step_s_one_per_call": one, "step_s_in_loop": looped,
                             "ratio_loop_over_one": looped / one}
    md_image = (f"Image model (Watermaze quick: 12x16 frames, 16 windows of 150 steps): "
                f"{one:.2f} s/step one step per call, {looped:.2f} s/step in a loop of {spc}: "
                f"{looped / one:.1f}x (why image presets use steps_per_call=1).\n")
    md = (
        f"Train step (forward, backward, clip, Adam; windows sampled on device), batch {batch} "
        f"split across {jax.local_device_count()} CPU device(s) (`adjax.devices`), "
        f"context {CONTEXT} steps, Dark Room shapes; matmul peak measured in the same run: "
        f"{peak / 1e9:.0f} GFLOP/s (jitted 2048² float32 dot). FLOPs by the torch script's "
        "formula (6·params·tokens + 12·L·N²·d). `vs torch`: our tokens/s over "
        "`torch_ad_step.py` of the same shape run in the same command (n/a without torch).\n\n"
        "| model | tokens/seq | s/step | tokens/s | GFLOP/s | of peak | vs torch |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n" + md_seeds + "\n" + md_image)
    return {"title": "Training throughput (adjax.train)", "markdown": md, "results": results}


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv)["markdown"])
