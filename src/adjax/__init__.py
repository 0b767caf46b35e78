"""adjax: Algorithm Distillation (Laskin et al., ICLR 2023) in JAX/Flax."""

import sys as _sys

__version__ = "0.1.0"

# Commands (`python -m adjax.<module>`) use one JAX CPU device per core (adjax.devices). That
# must happen before the first JAX computation, and importing gymnax computes an array, so it is
# done here: while `-m` locates its module, Python imports the parent packages (this one first)
# with sys.argv[0] set to "-m". Importing adjax from a script, a notebook or the tests changes
# nothing: those call `adjax.devices.use_cpu_cores()` themselves if they want it.
if _sys.argv[:1] == ["-m"]:
    from adjax.devices import use_cpu_cores as _use_cpu_cores

    _use_cpu_cores()
