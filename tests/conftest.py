"""Test-wide JAX settings: CPU, strict rank promotion (catches silent broadcasting), and a
persistent compilation cache shared by the test workers and the commands the tests start (the
variable is inherited), so a program compiled by one of them is read by the others: the tiny
runs of the experiment, fault and notebook tests compile the same programs in many processes.
It lives in .pytest_cache (`make clean` removes it); a cached program is the same executable,
so results keep their bits."""

import os
from pathlib import Path

import jax

CACHE = Path(__file__).resolve().parent.parent / ".pytest_cache" / "jax"
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(CACHE))
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_numpy_rank_promotion", "raise")
