"""adjax: Algorithm Distillation (Laskin et al., ICLR 2023) in JAX/Flax."""

import sys as _sys

__version__ = "0.1.0"

# Commands (`python -m adjax.<module>`) use one JAX CPU device per core (adjax.devices). That
# must happen before the first JAX computation, and importing gymnax computes an array, so it is
# done here: while `-m` locates its module, Python imports the parent packages (this one first)
# with sys.argv[0] set to "-m". Importing adjax from a script, a notebook or the tests changes
# nothing: those call `adjax.devices.use_cpu_cores()` themselves if they want it.
# For the same reason a command joins a multi-process JAX job here when asked to
# (`adjax.distributed`: --coordinator/--num-processes/--process-id, taken out of sys.argv
# before the command parses it, ADJAX_* variables, or a SLURM/Open MPI/TPU environment).
# The launcher (`python -m adjax.launch`) only starts processes: it does neither.
_argv = getattr(_sys, "orig_argv", [])
_module = _argv[_argv.index("-m") + 1] if "-m" in _argv[:-1] else None
if _sys.argv[:1] == ["-m"] and _module != "adjax.launch":
    from adjax.devices import use_cpu_cores as _use_cpu_cores
    from adjax.distributed import initialize_from_command_line as _initialize

    _use_cpu_cores()
    _initialize(_sys.argv)
