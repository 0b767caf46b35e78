"""Context size (Laskin et al. 2023, Fig. 7): AD trained with contexts of 0.4 to 4 episodes; the
final return against the context length. The paper's claim: a context of at least one episode,
better 2-4, is needed for in-context RL.

    python -m adjax.experiments.context_size --preset quick

The paper ran it on Key-to-Door (1000 episodes); one Key-to-Door run costs ~50 min here, so the
quick preset runs it on Dark Room (the darkroom quick preset's data and training, AD alone,
3 training seeds, 200 held-out episodes) and compares the shapes: each curve divided by its
value at 4 episodes.
"""

import dataclasses

from adjax import envs
from adjax.experiments import darkroom
from adjax.experiments.ablation import Ablation, cli
from adjax.experiments.common import ExperimentConfig

EPISODES = (0.4, 0.6, 0.8, 1, 2, 4)
PAPER = {0.4: 0.54, 0.6: 0.64, 0.8: 0.88, 1: 1.12, 2: 1.76, 4: 1.84}  # Key-to-Door, episode 1000


def with_context(cfg: ExperimentConfig, episodes: float) -> ExperimentConfig:
    """cfg with a context of `episodes` episodes (c = episodes x episode length steps; training
    is told a context shorter than an episode is meant) and, for evaluation, a block refresh b:
    the largest divisor of the episode length with b <= c / 4, so the context always holds at
    least 3/4 of c steps, as in the base preset (c = 4 episodes, refreshed every episode)."""
    L = envs.make(cfg.env)[0].episode_len
    c = round(episodes * L)
    if c < 4:
        raise ValueError(f"context of {episodes} episodes is {c} steps of {cfg.env}: need >= 4")
    b = max(d for d in range(1, L + 1) if L % d == 0 and d <= c // 4)
    train = cfg.train_ad if c >= L else dataclasses.replace(cfg.train_ad,
                                                            allow_short_context=True)
    return dataclasses.replace(
        cfg, model=dataclasses.replace(cfg.model, context_len=c), train_ad=train,
        eval=dataclasses.replace(cfg.eval, refresh_every=None if b == L else b))


def quick() -> Ablation:
    return Ablation(
        name="context_size", title="AD's final return against its context (Fig. 7)",
        axis="context (episodes)", values=EPISODES, vary=with_context, base=darkroom.quick(),
        base_preset="quick", paper=PAPER, paper_env="key-to-door", paper_episode=1000,
        reference=4, train_seeds=3, episodes=200, log_x=True,
        note="Dark Room instead of the paper's Key-to-Door (a Key-to-Door run costs ~50 min "
             "here); compare the curves relative to 4 episodes.")


def tiny() -> Ablation:
    return dataclasses.replace(quick(), values=(1, 2), base=darkroom.tiny(), base_preset="tiny",
                               train_seeds=1, episodes=4, eval_seeds=2)


PRESETS = {"quick": quick, "tiny": tiny}

if __name__ == "__main__":
    cli("context_size", PRESETS)
