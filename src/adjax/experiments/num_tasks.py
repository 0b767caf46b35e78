"""Number of training tasks (Laskin et al. 2023, appendix): AD trained on the first n training
tasks, n on a log scale; the final return on the held-out tasks against n.

    python -m adjax.experiments.num_tasks --preset quick

The paper ran it on Key-to-Door (1 ... 2424 tasks, 300 episodes); the quick preset runs it on
Dark Room, whose training set has 57 goals (1, 2, 4, ..., 32, 57), with the darkroom quick
preset's source, model and training, AD alone, one training seed per value. Each n collects
its own histories; fewer tasks mean fewer histories, so the same number of training steps
revisits them more often.
"""

import dataclasses

from adjax.experiments import darkroom
from adjax.experiments.ablation import Ablation, cli

COUNTS = (1, 2, 4, 8, 16, 32, 57)
PAPER = {1: 0.44, 37: 0.71, 151: 0.95, 606: 1.64, 1212: 1.87, 2424: 1.89}  # K2D, episode 300


def with_tasks(cfg, n: int):
    return dataclasses.replace(cfg, num_train_tasks=None if n == 57 else n)


def quick():
    return Ablation(
        name="num_tasks", title="AD against the number of training tasks (appendix)",
        axis="training tasks", values=COUNTS, vary=with_tasks, base=darkroom.quick(),
        base_preset="quick", paper=PAPER, paper_env="key-to-door", paper_episode=300,
        train_seeds=1, episodes=200, log_x=True,
        note="Dark Room (57 training goals) instead of the paper's Key-to-Door (up to 2424).")


def tiny():
    return dataclasses.replace(quick(), values=(1, 57), base=darkroom.tiny(),
                               base_preset="tiny", episodes=4, eval_seeds=2)


PRESETS = {"quick": quick, "tiny": tiny}

if __name__ == "__main__":
    cli("num_tasks", PRESETS)
