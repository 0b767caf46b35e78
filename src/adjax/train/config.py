"""TrainConfig, its presets, the learning-rate schedule and the optimiser."""

import dataclasses
import json
import math

import optax

# Fields that may change when a run is resumed (they change no computed value).
RESUMABLE_FIELDS = ("num_steps", "log_every", "ckpt_every", "steps_per_call", "max_to_keep")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation of the AD transformer (the paper's: Adam (0.9, 0.99), batch 128, clip 1).

    The learning rate warms up linearly from init_lr to peak_lr over warmup_steps, then follows a
    cosine decay to end_lr at num_steps. steps_per_call steps are scanned inside one jit call.
    allow_short_context: permit a context shorter than one episode (the context-size ablation).
    window_stride: training windows start at multiples of this many steps. 1 (the paper's random
      across-episode windows) starts anywhere; the episode length starts every window at an
      episode start, as evaluation's refreshed contexts are (`adjax.evaluate`: the last c - b
      steps re-encoded every b = episode steps), so a step's position in the window tells its
      step within the episode, which the observation alone may not (Key-to-Door's random start).
    state_loss: 0 (the paper's), or the weight of an auxiliary loss beside the action loss: the
      mean squared error of the model's state read-out (`ModelConfig.state_head`) against the
      features of the renderer state each training frame was drawn from (a dataset that stores
      renderer state: Watermaze). It only shapes the image encoder; written only when on.
    """

    batch_size: int = 128
    num_steps: int = 10_000
    init_lr: float = 2e-6
    peak_lr: float = 3e-4
    end_lr: float = 2e-6
    warmup_steps: int = 1_000
    b1: float = 0.9
    b2: float = 0.99
    grad_clip: float = 1.0
    label_smoothing: float = 0.0
    log_every: int = 100
    ckpt_every: int = 1_000
    max_to_keep: int = 2
    steps_per_call: int = 10
    seed: int = 0
    allow_short_context: bool = False
    window_stride: int = 1
    state_loss: float = 0.0

    def __post_init__(self):
        for name in ("batch_size", "num_steps", "log_every", "ckpt_every", "steps_per_call",
                     "max_to_keep", "window_stride"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("init_lr", "peak_lr", "end_lr", "grad_clip"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0 and (v > 0 or name == "init_lr")):
                raise ValueError(f"TrainConfig.{name} must be a finite number > 0, got {v}")
        if self.warmup_steps < 0:
            raise ValueError(f"TrainConfig.warmup_steps must be >= 0, got {self.warmup_steps}")
        for name in ("b1", "b2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"TrainConfig.{name} must be in [0, 1), got "
                                 f"{getattr(self, name)}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not (math.isfinite(self.state_loss) and self.state_loss >= 0):
            raise ValueError(f"TrainConfig.state_loss must be a finite number >= 0, got "
                             f"{self.state_loss}")

    def to_dict(self) -> dict:
        """All fields, state_loss only when on (configs written before it compare equal)."""
        d = dataclasses.asdict(self)
        if not self.state_loss:
            del d["state_loss"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return cls(**d)


def with_defaults(config_cls, stored: dict) -> dict:
    """A config dict as read from JSON (TrainConfig or ModelConfig), with the fields added since it
    was written filled in with their defaults, in JSON form again: what to compare a stored run's
    config against, so that old run directories still resume."""
    return json.loads(json.dumps(config_cls.from_dict(stored).to_dict()))


def check_state_loss(model_cfg, train_cfg: TrainConfig) -> None:
    """ValueError unless the auxiliary state loss is on in both configs or in neither: the loss
    trains the model's read-out (`ModelConfig.state_head`), which nothing else trains."""
    if bool(train_cfg.state_loss) != bool(model_cfg.state_head):
        raise ValueError(f"TrainConfig.state_loss {train_cfg.state_loss} and ModelConfig."
                         f"state_head {model_cfg.state_head}: the auxiliary state loss needs "
                         "both (or neither)")


def paper_train(**overrides) -> TrainConfig:
    """The paper's optimiser settings (batch 128, 2e-6 -> 3e-4 warm-up, cosine decay)."""
    return TrainConfig(**overrides)


def schedule(cfg: TrainConfig) -> optax.Schedule:
    """Linear warm-up init_lr -> peak_lr, then cosine decay to end_lr at num_steps."""
    warmup = max(1, min(cfg.warmup_steps, cfg.num_steps - 1))
    return optax.join_schedules(
        [optax.linear_schedule(cfg.init_lr, cfg.peak_lr, warmup),
         optax.cosine_decay_schedule(cfg.peak_lr, max(1, cfg.num_steps - warmup),
                                     alpha=cfg.end_lr / cfg.peak_lr)],
        boundaries=[warmup])


def optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """Global-norm clipping, then Adam(b1, b2) with the schedule."""
    return optax.chain(optax.clip_by_global_norm(cfg.grad_clip),
                       optax.adam(schedule(cfg), b1=cfg.b1, b2=cfg.b2))
