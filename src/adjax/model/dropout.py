"""Dropout and Bernoulli masks from 1- to 16-bit slices of threefry words (~4-30x cheaper on CPU).

`jax.random.bernoulli` spends one 32-bit threefry word per element; on this CPU that made random
numbers about half of a small transformer's train step. Here each 32-bit word yields 32 / w
uniform w-bit integers, w the fewest bits (1, 2, 4, 8 or 16) that realise the rate exactly, else
16: a rate r is realised as round(r * 2^w) / 2^w (0.5 and 0.25 exactly, from 1 and 2 bits;
0.1 -> 0.100006, 0.3 -> 0.300003). The paper's attention dropout 0.5 thus costs one word per 32
attention weights (it was 15% of a CPU-sized train step at 8 bits).
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp


def _width(rate: float) -> int:
    for w in (1, 2, 4, 8):
        if float(rate * (1 << w)).is_integer():
            return w
    return 16


def effective_rate(rate: float) -> float:
    """The probability a mask from `bernoulli_mask(key, rate, ...)` is True."""
    levels = 1 << _width(rate)
    return round(rate * levels) / levels


def bernoulli_mask(key, rate: float, shape) -> jax.Array:
    """bool[shape], True with probability effective_rate(rate)."""
    width = _width(rate)
    per_word, n = 32 // width, math.prod(shape)
    words = jax.random.bits(key, (-(-n // per_word),), jnp.uint32)
    if width >= 8:  # byte / half-word views of the words
        small = jax.lax.bitcast_convert_type(words, jnp.uint8 if width == 8 else jnp.uint16)
    else:  # w-bit fields, lowest first
        shifts = jnp.arange(0, 32, width, dtype=jnp.uint32)
        small = (words[:, None] >> shifts[None, :]) & jnp.uint32((1 << width) - 1)
    return small.reshape(-1)[:n].reshape(shape) < round(rate * (1 << width))


class Dropout(nn.Module):
    """Inverted dropout with `bernoulli_mask`; draws from the "dropout" rng stream."""

    rate: float

    @nn.compact
    def __call__(self, x, deterministic: bool):
        if deterministic or self.rate == 0.0:
            return x
        drop = bernoulli_mask(self.make_rng("dropout"), self.rate, x.shape)
        return jnp.where(drop, 0.0, x / (1.0 - effective_rate(self.rate)))
