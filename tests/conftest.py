"""Test-wide JAX settings: CPU, strict rank promotion (catches silent broadcasting)."""

import jax

jax.config.update("jax_numpy_rank_promotion", "raise")
