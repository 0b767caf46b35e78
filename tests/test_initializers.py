"""adjax.initializers.orthogonal: flax's orthogonal initialiser without LAPACK (whose batched QR
can deadlock XLA:CPU's thread pool under vmap)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adjax.initializers import orthogonal
from adjax.sources import a2c


@pytest.mark.parametrize("shape", [(128, 4), (128, 1), (4, 128), (32, 32), (3, 5, 7)])
def test_the_matrix_flax_draws_for_the_same_key(shape):
    key = jax.random.key(7)
    ours = np.asarray(orthogonal(0.5)(key, shape))
    flax = np.asarray(nn.initializers.orthogonal(0.5)(key, shape))
    np.testing.assert_allclose(ours, flax, atol=5e-6)
    m = ours.reshape(-1, shape[-1]) / 0.5
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, np.eye(len(gram)), atol=5e-6)


def test_vector_shapes_are_refused():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        orthogonal()(jax.random.key(0), (4,))


def test_a2c_network_init_vmapped_over_tasks_calls_no_lapack():
    """The A2C source initialises one network per task under vmap: no LAPACK custom call."""
    net = a2c.ActorCritic(num_actions=5, hidden=(16,))
    init = jax.vmap(lambda k: net.init(k, jnp.zeros((3,), jnp.float32)))
    hlo = jax.jit(init).lower(jax.random.split(jax.random.key(0), 64)).as_text()
    assert "custom_call" not in hlo  # LAPACK's QR would be one
    flax_init = jax.vmap(lambda k: nn.Dense(4, kernel_init=nn.initializers.orthogonal())
                         .init(k, jnp.zeros((16,))))
    assert "lapack" in jax.jit(flax_init).lower(
        jax.random.split(jax.random.key(0), 64)).as_text().lower()  # what the check would see
