"""Cheap Bernoulli masks: realised rates and inverted-dropout scaling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adjax.model.dropout import Dropout, bernoulli_mask, effective_rate


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5, 0.25, 0.75, 1 / 16, 1.0])
def test_mask_rate(rate):
    assert abs(effective_rate(rate) - rate) < 2**-16
    m = bernoulli_mask(jax.random.key(0), rate, (1000, 101))
    assert m.shape == (1000, 101) and m.dtype == bool
    assert abs(float(m.mean()) - rate) < 4e-3
    if rate < 1:
        assert not np.array_equal(m, bernoulli_mask(jax.random.key(1), rate, (1000, 101)))


@pytest.mark.parametrize("rate", [0.5, 0.25])
def test_narrow_fields_are_independent(rate):
    """1- and 2-bit fields of one word: every field position has the rate, and neighbouring
    elements (usually fields of the same word) are uncorrelated."""
    m = np.asarray(bernoulli_mask(jax.random.key(3), rate, (4096, 32)), np.float64)
    np.testing.assert_allclose(m.mean(axis=0), rate, atol=0.03)  # each field position
    a, b = m[:, :-1].ravel(), m[:, 1:].ravel()
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.01


def test_dropout_scales_kept_units_and_is_off_when_deterministic():
    x = jnp.ones((200, 100))
    y = Dropout(0.5).apply({}, x, False, rngs={"dropout": jax.random.key(0)})
    assert set(np.unique(np.asarray(y))) == {0.0, 2.0}
    np.testing.assert_array_equal(Dropout(0.5).apply({}, x, True), x)
