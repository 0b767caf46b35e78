"""Weight initialisers that are safe to vmap over thousands of tasks on a CPU.

`orthogonal(scale)` is flax's `nn.initializers.orthogonal(scale)` (the same normal draw for the
same key, and the same matrix up to float32 rounding: the Q of its QR decomposition with R's
diagonal made positive) computed with matmuls instead of LAPACK. Why: under `vmap` the LAPACK
QR becomes one batched custom call (jaxlib's `lapack_sgeqrf_ffi`), which splits its batch over
XLA:CPU's intra-op thread pool and waits for the pieces (`jax::ParallelBatchMap`) on a thread of
that same pool. When every pool thread runs such a wait at once (two initialisers of one
network scheduled concurrently, or one per CPU device), no thread is left to run the pieces and
the program never finishes: jaxlib 0.10.2 with 2 threads on a 2-core CPU, one-actor A2C on 256
Dark Room tasks (gdb: both `tf_XLAEigen` threads in `QrFactorization` -> `BlockingCounter::Wait`,
nothing runnable). Gram-Schmidt with a second orthogonalisation pass is exact enough here (an
initialiser's columns, orthonormal to ~1e-6) and has no such call.
"""

import math

import jax
import jax.numpy as jnp


def _q(a: jax.Array) -> jax.Array:
    """float[m, k], m >= k -> the Q of a = QR with R's diagonal positive (classical Gram-Schmidt,
    each column orthogonalised twice against the ones before it)."""
    m, k = a.shape

    def column(j, q):
        v = a[:, j]
        before = (jnp.arange(k) < j).astype(a.dtype)
        for _ in range(2):
            v = v - q @ ((q.T @ v) * before)
        return q.at[:, j].set(v / jnp.linalg.norm(v))

    return jax.lax.fori_loop(0, k, column, jnp.zeros_like(a))


def orthogonal(scale: float = 1.0, column_axis: int = -1):
    """An initialiser (key, shape, dtype) -> array: `flax.linen.initializers.orthogonal`'s
    matrix (module docstring), computed without LAPACK."""

    def init(key, shape, dtype=jnp.float32):
        if len(shape) < 2:
            raise ValueError(f"orthogonal: shape {shape} has fewer than 2 dimensions")
        n_cols = shape[column_axis]
        n_rows = math.prod(shape) // n_cols
        tall = (n_rows, n_cols) if n_rows >= n_cols else (n_cols, n_rows)
        q = _q(jax.random.normal(key, tall, dtype))
        if n_rows < n_cols:
            q = q.T
        q = jnp.reshape(q, (*(d for i, d in enumerate(shape) if i != column_axis % len(shape)),
                            n_cols))
        return scale * jnp.moveaxis(q, -1, column_axis)

    return init
