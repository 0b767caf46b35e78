"""RL² configuration and its presets (paper, quick, tiny), LSTM or transformer network."""

from __future__ import annotations

import dataclasses
import json

# Fields that may change when a run is resumed (they change no computed value).
RESUMABLE_FIELDS = ("num_updates", "log_every", "ckpt_every", "max_to_keep")
NETWORKS = ("lstm", "transformer")
ALGOS = ("a2c", "ppo")
# Fields written to config.json only when they differ from their defaults, so that the configs of
# runs made before they existed stay the same (and those runs still resume).
LATER_FIELDS = ("norm_adv", "algo", "ppo_epochs", "ppo_minibatches", "clip_eps")
# The transformer's fields, written by `to_dict` only for network "transformer": an LSTM run's
# config.json is the one written before RL²-Transformer existed (it still resumes).
TRANSFORMER_FIELDS = ("network", "tf_layers", "tf_width", "tf_heads")
# RL²-Transformer sizes per preset: the paper's (4 layers, width 256, pre-norm) and CPU ones.
TRANSFORMER_PRESETS = {"paper": dict(tf_layers=4, tf_width=256, tf_heads=4),
                       "quick": dict(tf_layers=2, tf_width=64, tf_heads=4),
                       "tiny": dict(tf_layers=1, tf_width=16, tf_heads=2)}


@dataclasses.dataclass(frozen=True)
class Config:
    """Meta-training of an LSTM actor-critic with A2C over trials of `episodes_per_trial` episodes.

    The paper's Dark Room RL² (A3C): lr 3e-4, batch 256 trials, unroll 20, 2 LSTM layers of 256,
    10 episodes per trial; the bandit's trial is 100 pulls (100 one-pull episodes). gamma,
    gae_lambda, the loss coefficients, the gradient clip and Adam's eps are ours (the paper does
    not give them). One update = one unroll of `unroll` steps from all `num_trials` parallel
    trials, then one Adam step; trials start together, so every trial has the same step index.
    """

    env: str = "darkroom"
    hidden: tuple[int, ...] = (256, 256)  # LSTM layers
    num_trials: int = 256  # parallel trials (the batch)
    episodes_per_trial: int = 10
    unroll: int = 20
    num_updates: int = 10_000
    lr: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    # Advantages normalised to mean 0, std 1 over each update's batch (as PPO trainers do), so
    # that the policy gradient's scale does not follow the returns'. Off: plain A2C, as the
    # runs before it (and written to config.json only when on, so their configs still resume).
    norm_adv: bool = False
    # "a2c": one Adam step per unroll (the paper's A3C, synchronous). "ppo": the unroll's trials
    # split into ppo_minibatches groups, ppo_epochs passes over them, one Adam step per group, on
    # the clipped surrogate (clip_eps) of the policy that collected it; LSTM only.
    algo: str = "a2c"
    ppo_epochs: int = 4
    ppo_minibatches: int = 4
    clip_eps: float = 0.2
    max_grad_norm: float = 1.0
    adam_eps: float = 1e-6
    num_train_tasks: int | None = None  # grids: a prefix of the train set (None: all of it);
    # bandit: the number of training tasks drawn (envs.tasks_for(..., "train", n); default 10_000)
    seed: int = 0
    log_every: int = 50  # updates
    ckpt_every: int = 500  # updates
    max_to_keep: int = 2
    network: str = "lstm"
    tf_layers: int = 4
    tf_width: int = 256
    tf_heads: int = 4

    def __post_init__(self):
        for name in ("num_trials", "episodes_per_trial", "unroll", "num_updates", "log_every",
                     "ckpt_every", "max_to_keep"):
            if getattr(self, name) < 1:
                raise ValueError(f"rl2.Config.{name} must be >= 1, got {getattr(self, name)}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"rl2.Config.hidden needs at least one layer, got {self.hidden}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.network not in NETWORKS:
            raise ValueError(f"rl2.Config.network must be one of {NETWORKS}, got {self.network!r}")
        if self.algo not in ALGOS:
            raise ValueError(f"rl2.Config.algo must be one of {ALGOS}, got {self.algo!r}")
        if self.algo == "ppo":
            if self.network != "lstm":
                raise ValueError("rl2.Config.algo 'ppo' needs network 'lstm' (its minibatches "
                                 f"replay subsets of trials), got {self.network!r}")
            if self.ppo_epochs < 1 or self.ppo_minibatches < 1:
                raise ValueError("rl2.Config.ppo_epochs and ppo_minibatches must be >= 1, got "
                                 f"{self.ppo_epochs} and {self.ppo_minibatches}")
            if self.num_trials % self.ppo_minibatches:
                raise ValueError(f"rl2.Config.num_trials {self.num_trials} is not divisible by "
                                 f"ppo_minibatches {self.ppo_minibatches}")
            if not 0 < self.clip_eps < 1:
                raise ValueError(f"rl2.Config.clip_eps must be in (0, 1), got {self.clip_eps}")
        if self.network == "transformer":
            for name in ("tf_layers", "tf_width", "tf_heads"):
                if getattr(self, name) < 1:
                    raise ValueError(f"rl2.Config.{name} must be >= 1, got {getattr(self, name)}")
            if self.tf_width % self.tf_heads:
                raise ValueError(f"rl2.Config.tf_width {self.tf_width} is not divisible by "
                                 f"tf_heads {self.tf_heads}")

    def trial_len(self, episode_len: int) -> int:
        """Steps per trial."""
        return self.episodes_per_trial * episode_len

    def steps_per_update(self) -> int:
        return self.num_trials * self.unroll

    def to_dict(self) -> dict:
        """All fields, except the transformer's for an LSTM (TRANSFORMER_FIELDS) and those
        added later that hold their defaults (LATER_FIELDS)."""
        d = json.loads(json.dumps(dataclasses.asdict(self)))
        if self.network == "lstm":
            d = {k: v for k, v in d.items() if k not in TRANSFORMER_FIELDS}
        defaults = {k: Config.__dataclass_fields__[k].default for k in LATER_FIELDS}
        return {k: v for k, v in d.items() if k not in defaults or v != defaults[k]}

    @classmethod
    def from_dict(cls, d: dict) -> Config:
        d = dict(d)
        d["hidden"] = tuple(d["hidden"])
        return cls(**d)

    def core(self) -> Config:
        """This config with the resumable fields at fixed values: what compiled code depends on."""
        return dataclasses.replace(self, num_updates=1, log_every=1, ckpt_every=1, max_to_keep=1)


def preset(name: str, env: str = "darkroom", **overrides) -> Config:
    """paper: the paper's RL² (2 x 256 LSTM, 256 trials, unroll 20; for an accelerator); quick: a
    CPU-sized 2 x 64 LSTM, 64 trials, which on the grid environments backpropagates through the
    whole trial (unroll = 10 episodes) instead of the paper's 20 steps, for 5000 updates (64M env
    steps on Dark Room): with a fraction of the paper's 1B env steps, truncation at one episode
    leaves carrying a found goal into the next episode unlearnt (chosen on the validation goals:
    experiments/rl2_darkroom/NOTES.md); tiny: a few seconds, for tests and smoke runs. Bandit
    trials are 100 pulls (unroll 20). With network="transformer", the preset's transformer size
    (TRANSFORMER_PRESETS)."""
    per_trial = {"bandit": 100}.get(env, 10)
    presets = {
        "paper": dict(hidden=(256, 256), num_trials=256, num_updates=200_000),
        "quick": dict(hidden=(64, 64), num_trials=64, num_updates=4_000),
        "tiny": dict(hidden=(16,), num_trials=8, num_updates=20, log_every=5, ckpt_every=10),
    }
    if env != "bandit":
        from adjax import envs  # the episode length; imported here to keep this module light

        presets["quick"].update(unroll=per_trial * envs.make(env)[0].episode_len,
                                num_updates=5_000)
    if name not in presets:
        raise ValueError(f"unknown rl2 preset {name!r}; known: {', '.join(presets)}")
    sizes = TRANSFORMER_PRESETS[name] if overrides.get("network") == "transformer" else {}
    return Config(**{"env": env, "episodes_per_trial": per_trial, **presets[name], **sizes,
                     **overrides})
