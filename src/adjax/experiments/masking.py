"""Input masking (Laskin et al. 2023, appendix): AD trained with each input token (observation,
previous action, previous reward) masked with probability 0, 0.1, 0.3, 0.5; the final return
against it. The paper shows the figure without numbers we could read off.

    python -m adjax.experiments.masking --preset quick

The darkroom quick preset's data, model and training (which mask with probability 0.3), AD
alone, one training seed per value, 200 held-out episodes.
"""

import dataclasses

from adjax.experiments import darkroom
from adjax.experiments.ablation import Ablation, cli

PROBS = (0.0, 0.1, 0.3, 0.5)


def with_masking(cfg, p: float):
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, token_mask_prob=p))


def quick():
    return Ablation(
        name="masking", title="Input-token masking on Dark Room (appendix)",
        axis="token mask probability", values=PROBS, vary=with_masking, base=darkroom.quick(),
        base_preset="quick", train_seeds=1, episodes=200,
        note="the paper gives this ablation as a figure without numbers")


def tiny():
    return dataclasses.replace(quick(), values=(0.0, 0.3), base=darkroom.tiny(),
                               base_preset="tiny", episodes=4, eval_seeds=2)


PRESETS = {"quick": quick, "tiny": tiny}

if __name__ == "__main__":
    cli("masking", PRESETS)
