"""Model size (Laskin et al. 2023, appendix): AD with the embedding width, the number of layers
and the number of heads varied one at a time around the CPU-sized transformer (width 64, 4
layers, 4 heads); the final return against the parameter count. The paper shows the figure
without numbers we could read off.

    python -m adjax.experiments.model_size --preset quick

The darkroom quick preset's data and training, AD alone, one training seed per model, 200
held-out episodes. Width 256 and 10 layers (the paper's extremes) cost 4-16x a base run here
and are left to accelerators.
"""

import dataclasses

import jax

from adjax.experiments import darkroom
from adjax.experiments.ablation import Ablation, cli
from adjax.model import init_params, num_weights

SHAPES = ("d16", "d32", "d64", "d128", "l2", "l8", "h1", "h2", "h8")  # d64 = l4 = h4: the base


def with_shape(cfg, shape: str):
    field = {"d": "d_model", "l": "num_layers", "h": "num_heads"}[shape[0]]
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model,
                                                              **{field: int(shape[1:])}))


def num_params(cfg, shape: str) -> int:
    """The model's parameter count (shapes only: nothing is computed)."""
    return num_weights(jax.eval_shape(lambda: init_params(cfg.model, jax.random.key(0))))


def quick():
    return Ablation(
        name="model_size", title="Model size on Dark Room (appendix)",
        axis="model (d: width, l: layers, h: heads)", values=SHAPES, vary=with_shape,
        base=darkroom.quick(), base_preset="quick", train_seeds=1, episodes=200,
        x_of=num_params, x_label="parameters", log_x=True,
        series=(("embedding width", (("d16", 16), ("d32", 32), ("d64", 64), ("d128", 128))),
                ("layers", (("l2", 2), ("d64", 4), ("l8", 8))),
                ("heads", (("h1", 1), ("h2", 2), ("d64", 4), ("h8", 8)))),
        note="the paper gives this ablation as a figure without numbers")


def tiny():
    return dataclasses.replace(quick(), values=("d16", "l2"), base=darkroom.tiny(),
                               base_preset="tiny", episodes=4, eval_seeds=2)


PRESETS = {"quick": quick, "tiny": tiny}

if __name__ == "__main__":
    cli("model_size", PRESETS)
