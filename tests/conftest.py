"""Test-wide JAX settings: CPU, strict rank promotion (catches silent broadcasting), XLA's
optimisation passes off, and a persistent compilation cache shared by the test workers and the
commands the tests start (the variables are inherited).

- Optimisations off (`JAX_DISABLE_MOST_OPTIMIZATIONS=1`): the suite's programs are tiny and run a
  few times each, so compiling is most of its time. Measured on a 2-core CPU: the transformer and
  image-model/training test files take 0.6x the CPU time (69 s vs 117 s; 131 s vs 221 s). Every
  test compares two computations made under the same setting, or a computation with values
  worked out by hand to a tolerance, so no assertion depends on it; set the variable to 0 to run
  the suite with the optimised programs users get.
- The cache: a program compiled by one process is read by the others (the tiny runs of the
  experiment, fault and notebook tests compile the same programs in many processes). It lives in
  .pytest_cache (`make clean` removes it); a cached program is the same executable, so results
  keep their bits."""

import os
from pathlib import Path

import jax

CACHE = Path(__file__).resolve().parent.parent / ".pytest_cache" / "jax"
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(CACHE))
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_disable_most_optimizations",
                  os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"].lower() in ("1", "true"))
jax.config.update("jax_numpy_rank_promotion", "raise")
