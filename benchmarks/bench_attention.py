"""Attention's output contraction: into [B, H, N, K] then a transpose (`adjax.model.attend`),
against contracting straight into [B, N, H, K] (the reference, written out here), at the shapes
of a Dark Room Hard evaluation refresh and of a training step. Whether both give the same bits
depends on the CPU (XLA:CPU picks its dot kernels by layout and instruction set): on an AVX2-only
EPYC every case did; on an AVX-512 one the training case differs in float32 rounding (about 1e-7
of the largest value). Checked here, with the largest difference."""

import time

import jax
import jax.numpy as jnp

from adjax.model.transformer import NEG_INF, attend


def direct(q, k, v, mask, kv_layout):
    """The reference: softmax attention contracting p with v straight into [B, N, H, K]."""
    s = jnp.einsum(f"bnhk,{kv_layout}->bhns", q * q.shape[-1] ** -0.5, k)
    w = jax.nn.softmax(jnp.where(mask[:, None], s, NEG_INF), axis=-1)
    return jnp.einsum(f"bhns,{kv_layout}->bnhk", w, v)


def ours(q, k, v, mask, kv_layout):
    return attend(q, k, v, mask, lambda w, deterministic: w, False, kv_layout)


def best_of(fn, args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t)
    return min(times)


def case(name, batch, queries, slots, kv_layout, grad: bool, repeats: int):
    heads, hd = 4, 16  # the CPU model: d 64, 4 heads
    kq, kk, kv = jax.random.split(jax.random.key(0), 3)
    kv_shape = (batch, slots, heads, hd) if kv_layout == "bshk" else (batch, heads, hd, slots)
    q = jax.random.normal(kq, (batch, queries, heads, hd))
    k, v = jax.random.normal(kk, kv_shape), jax.random.normal(kv, kv_shape)
    offset = slots - queries  # queries are the last `queries` slots, causal
    mask = (jnp.arange(slots)[None, :] <= offset + jnp.arange(queries)[:, None])[None]
    fns = {}
    for label, f in (("direct", direct), ("ours", ours)):
        g = lambda q, k, v, f=f: f(q, k, v, mask, kv_layout)
        if grad:
            g = jax.grad(lambda q, k, v, g=g: (g(q, k, v) ** 2).sum(), argnums=(0, 1, 2))
        fns[label] = jax.jit(g)
    pairs = list(zip(jax.tree.leaves(fns["direct"](q, k, v)),
                     jax.tree.leaves(fns["ours"](q, k, v)), strict=True))
    same = [bool((a == b).all()) for a, b in pairs]
    rel = max(float(jnp.abs(a - b).max() / jnp.abs(a).max()) for a, b in pairs)
    t_direct, t_ours = (best_of(fns[x], (q, k, v), repeats) for x in ("direct", "ours"))
    return {"case": name, "batch": batch, "queries": queries, "slots": slots,
            "direct_ms": 1e3 * t_direct, "ours_ms": 1e3 * t_ours, "speedup": t_direct / t_ours,
            "same_bits": all(same), "max_rel_diff": rel}


def run(quick: bool = False) -> dict:
    repeats = 2 if quick else 10
    scale = 4 if quick else 1
    cases = [
        case("evaluation refresh (140 steps into a 160-slot cache)", 24 // scale, 140, 160,
             "bhks", False, repeats),
        case("evaluation decode (1 step, 160-slot cache)", 24 // scale, 1, 160, "bhks", False,
             repeats),
        case("training forward + backward (160 steps)", 128 // scale, 160, 160, "bshk", True,
             repeats),
    ]
    rows = [f"| {c['case']} | {c['batch']} | {c['direct_ms']:.2f} | {c['ours_ms']:.2f} | "
            f"{c['speedup']:.2f}x | {'yes' if c['same_bits'] else 'no'} | "
            f"{c['max_rel_diff']:.1e} |" for c in cases]
    md = (
        "One attention layer of the CPU model (4 heads of 16), Dark Room Hard's shapes (context "
        "160 steps, one token per step). Direct: the probabilities contracted with the values "
        "straight into [B, N, H, K]. Ours (`adjax.model.attend`): into [B, H, N, K], then a "
        f"transpose. Best of {repeats} timed calls each, compile excluded; same bits: the two "
        "outputs (or gradients) compared element by element; max diff: their largest "
        "difference over the largest magnitude.\n\n"
        "| shape | batch | direct ms | ours ms | speed-up | same bits | max diff |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
    return {"title": "Attention output layout (adjax.model.attend)", "markdown": md,
            "results": {"cases": cases}}


if __name__ == "__main__":
    import sys

    print(run(quick="--quick" in sys.argv)["markdown"])
