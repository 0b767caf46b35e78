"""Experiments, one module each: `python -m adjax.experiments.<name> --preset quick --out DIR`."""
