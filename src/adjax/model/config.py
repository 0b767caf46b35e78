"""ModelConfig for AD's sequence model (the causal transformer, or an LSTM) and its presets."""

import dataclasses
import math

LAYOUTS = ("one", "three")
OBS_ENCODER_NAMES = ("discrete", "factored", "image")  # adjax.model.tokens.OBS_ENCODERS
SEQUENCE_MODELS = ("transformer", "lstm")  # adjax.model.MODELS
# The LSTM's fields, written by `to_dict` only for an LSTM: a transformer's dict is the one stored
# before the LSTM existed (run config.json, experiment.json compare equal).
LSTM_FIELDS = ("sequence_model", "lstm_hidden", "lstm_layers", "lstm_head")
# The image encoder's fields, written by `to_dict` only for obs_encoder "image" (likewise).
IMAGE_FIELDS = ("image_channels", "image_kernel", "image_dense", "image_dropout")
# LSTM sizes of `lstm_like`: the paper's, the CPU one (`cpu_lstm_model`), the paper's width with
# the CPU head ("wide": Key-to-Door's, chosen over "cpu" on its validation pairs), the tiny
# presets'.
LSTM_SIZES = {"paper": dict(lstm_hidden=512, lstm_head=(256, 256)),
              "cpu": dict(lstm_hidden=160, lstm_head=(128, 128)),
              "wide": dict(lstm_hidden=512, lstm_head=(128, 128)),
              "tiny": dict(lstm_hidden=16, lstm_head=(16,))}
# Image encoder sizes of `with_image_encoder`: the paper's (Watermaze at 72x96), and a CPU one
# (per 24x32 frame 0.15M conv multiply-adds against the paper encoder's 7.2M at that size).
IMAGE_SIZES = {"paper": dict(image_channels=(128, 128, 128), image_kernel=5, image_dense=256,
                             image_dropout=0.2),
               "cpu": dict(image_channels=(16, 32, 32), image_kernel=3, image_dense=64,
                           image_dropout=0.2)}
TOKENS_PER_STEP = {"one": 1, "three": 3}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Shape and regularisation of AD's sequence model: `ADTransformer` or `ADLSTM`.

    sequence_model: "transformer" (the default, the paper's AD) or "lstm" (the paper's appendix
      LSTM-AD, `adjax.model.lstm`). Both read the same step inputs through the same encoders
      (`adjax.model.tokens`, layout "one") and predict a_t at every step.

    obs_dims: cardinality of each observation component (Dark Room: (9, 9)); the discrete encoder
      flattens an observation to one index in [0, prod(obs_dims)) by mixed radix.
    num_actions: A; the action embedding has A + 1 rows (index A = "none", before the first step).
    context_len: c, in steps (transitions): at most c steps = c * tokens_per_step tokens.
    layout: "one" (one token per step) or "three" (tokens [prev_a, prev_r, o] per step).
    activation: "relu" (the default, as torch's TransformerEncoderLayer) or "gelu" (GPT-2).
    token_mask_prob: training-time input masking rate, see `adjax.model.tokens`.
    obs_encoder: "discrete" (one embedding per flattened index, the usual choice) or "factored"
      (one embedding table per component, summed: Dark Room's x and y; generalises to cells never
      rewarded in training, see `adjax.model.tokens.FactoredObsEncoder`) or "image" (frames
      uint8[H, W, C], obs_dims = (H, W, C): the paper's Watermaze encoder, a stack of [conv,
      BatchNorm, ReLU, max-pool 2, dropout] per entry of image_channels, then dense image_dense,
      then the token embedding; `adjax.model.tokens.ImageObsEncoder`).
    image_channels, image_kernel, image_dense, image_dropout: that encoder's conv widths (each
      conv stride 2), kernel size, dense width and dropout rate (the paper's: 3 x 128, 5, 256,
      0.2).
    state_head: 0 (the paper's: none), or the width of a linear read-out of each frame's token
      embedding that training (`TrainConfig.state_loss`) fits to features of the renderer state
      the frame was drawn from (Watermaze: x, y, cos and sin of the heading): an auxiliary loss
      that shapes the image encoder, training only. The policy never reads it: at evaluation the
      model sees frames, actions and rewards alone. Written to a run's config only when on.
    The transformer's fields (num_layers, num_heads, ff_dim, attn_dropout, norm) do not apply to
    the LSTM; d_model is its embedding width, dropout and token_mask_prob apply to both;
    activation is also the LSTM's policy MLP's.
    lstm_hidden, lstm_layers: the LSTM's state width and number of stacked layers.
    lstm_head: widths of the MLP policy head on [LSTM output, obs embedding] (the paper's 2 x 256).
    episode_marker: the first step of every episode reads (o_t, "none", 0), as the first step of a
      history does, instead of the previous episode's last action and reward: the model is told
      where episodes start (any agent knows when its environment was reset; RL²'s input carries
      the same flag) rather than having to infer it from the observations. Off: the paper's one
      continuous stream. Training windows and the evaluation loop both apply it
      (`adjax.model.tokens.mark_episode_starts`, `adjax.evaluate.loop`). Written to a run's
      config only when on.
    """

    obs_dims: tuple[int, ...]
    num_actions: int
    context_len: int
    layout: str = "one"
    d_model: int = 64
    num_layers: int = 4
    num_heads: int = 4
    ff_dim: int = 2048
    dropout: float = 0.1
    attn_dropout: float = 0.5
    token_mask_prob: float = 0.3
    norm: str = "post"
    activation: str = "relu"
    obs_encoder: str = "discrete"
    sequence_model: str = "transformer"
    lstm_hidden: int = 512
    lstm_layers: int = 1
    lstm_head: tuple[int, ...] = (256, 256)
    image_channels: tuple[int, ...] = (128, 128, 128)
    image_kernel: int = 5
    image_dense: int = 256
    image_dropout: float = 0.2
    episode_marker: bool = False
    state_head: int = 0

    def __post_init__(self):
        object.__setattr__(self, "obs_dims", tuple(int(d) for d in self.obs_dims))
        object.__setattr__(self, "lstm_head", tuple(int(w) for w in self.lstm_head))
        object.__setattr__(self, "image_channels", tuple(int(w) for w in self.image_channels))
        if self.sequence_model not in SEQUENCE_MODELS:
            raise ValueError(f"sequence_model must be one of {SEQUENCE_MODELS}, "
                             f"got {self.sequence_model!r}")
        if self.sequence_model == "lstm":
            if self.layout != "one":
                raise ValueError(f"layout must be 'one' for sequence_model 'lstm' (one LSTM step "
                                 f"per env step), got {self.layout!r}")
            if self.lstm_hidden < 1 or self.lstm_layers < 1 or min(self.lstm_head, default=1) < 1:
                raise ValueError(f"lstm_hidden, lstm_layers and lstm_head widths must be >= 1, "
                                 f"got {self.lstm_hidden}, {self.lstm_layers}, {self.lstm_head}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        if self.norm not in ("post", "pre"):
            raise ValueError(f"norm must be 'post' or 'pre', got {self.norm!r}")
        if self.activation not in ("relu", "gelu"):
            raise ValueError(f"activation must be 'relu' or 'gelu', got {self.activation!r}")
        if self.obs_encoder not in OBS_ENCODER_NAMES:
            raise ValueError(f"obs_encoder must be one of {OBS_ENCODER_NAMES}, "
                             f"got {self.obs_encoder!r}")
        if self.obs_encoder == "image":
            if len(self.obs_dims) != 3:
                raise ValueError(f"obs_dims of an image encoder is a frame's (H, W, C), got "
                                 f"{self.obs_dims}")
            if (not self.image_channels or min(self.image_channels) < 1 or self.image_kernel < 1
                    or self.image_dense < 1):
                raise ValueError(f"image_channels, image_kernel and image_dense must be >= 1, got "
                                 f"{self.image_channels}, {self.image_kernel}, {self.image_dense}")
        if self.state_head < 0 or (self.state_head and self.obs_encoder != "image"):
            raise ValueError(f"state_head {self.state_head}: a read-out of the image encoder's "
                             f"frame embeddings (>= 0, and 0 for obs_encoder "
                             f"{self.obs_encoder!r})")
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model {self.d_model} not divisible by num_heads {self.num_heads}")
        if not self.obs_dims or min(self.obs_dims) < 1:
            raise ValueError(f"obs_dims must be positive cardinalities, got {self.obs_dims}")
        if self.num_actions < 1 or self.context_len < 1:
            raise ValueError("num_actions and context_len must be >= 1")
        for name in ("dropout", "attn_dropout", "token_mask_prob", "image_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")

    @property
    def tokens_per_step(self) -> int:
        return TOKENS_PER_STEP[self.layout]

    @property
    def max_tokens(self) -> int:
        return self.context_len * self.tokens_per_step

    @property
    def num_obs(self) -> int:
        return math.prod(self.obs_dims)

    def to_dict(self) -> dict:
        """All fields, except the LSTM's for a transformer (LSTM_FIELDS), the image encoder's
        for other encoders (IMAGE_FIELDS), and episode_marker and state_head when off (configs
        written before they existed compare equal)."""
        d = dataclasses.asdict(self)
        if not self.episode_marker:
            del d["episode_marker"]
        if not self.state_head:
            del d["state_head"]
        if self.sequence_model == "transformer":
            d = {k: v for k, v in d.items() if k not in LSTM_FIELDS}
        if self.obs_encoder != "image":
            d = {k: v for k, v in d.items() if k not in IMAGE_FIELDS}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        d = dict(d)
        d["obs_dims"] = tuple(d["obs_dims"])
        for k in ("lstm_head", "image_channels"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


def paper_model(obs_dims, num_actions: int, context_len: int, **overrides) -> ModelConfig:
    """The paper's shape: d 64, 4 layers, 4 heads, ff 2048, post-norm, dropout 0.1/0.5, mask 0.3."""
    return ModelConfig(obs_dims=tuple(obs_dims), num_actions=num_actions,
                       context_len=context_len, **overrides)


def cpu_model(obs_dims, num_actions: int, context_len: int, **overrides) -> ModelConfig:
    """The paper's shape with ff 256: ~8x fewer FLOPs per token, for 2-core CPUs."""
    return ModelConfig(obs_dims=tuple(obs_dims), num_actions=num_actions,
                       context_len=context_len, **{"ff_dim": 256, **overrides})


def paper_lstm_model(obs_dims, num_actions: int, context_len: int, **overrides) -> ModelConfig:
    """The paper's LSTM-AD (appendix): one LSTM of 512, an MLP head of 2 x 256 (~1.4M weights,
    the paper transformer's ~1.1M); embedding 64, dropout and token masking as the transformer."""
    return ModelConfig(obs_dims=tuple(obs_dims), num_actions=num_actions,
                       context_len=context_len, **{"sequence_model": "lstm", **overrides})


def cpu_lstm_model(obs_dims, num_actions: int, context_len: int, **overrides) -> ModelConfig:
    """LSTM-AD sized like `cpu_model` by weight count: one LSTM of 160 and a 2 x 128 head,
    ~190k weights besides the embeddings against the CPU transformer's ~200k."""
    return paper_lstm_model(obs_dims, num_actions, context_len, **{
        **LSTM_SIZES["cpu"], **overrides})


def lstm_like(cfg: ModelConfig, size: str = "cpu") -> ModelConfig:
    """The LSTM-AD counterpart of a (transformer) config: the same inputs, context length,
    encoders, embedding width and regularisation (dropout, token masking), one token per step,
    an LSTM of `size` ("paper", "cpu", "wide" or "tiny", LSTM_SIZES)."""
    if size not in LSTM_SIZES:
        raise ValueError(f"LSTM size must be one of {tuple(LSTM_SIZES)}, got {size!r}")
    return dataclasses.replace(cfg, sequence_model="lstm", layout="one", lstm_layers=1,
                               **LSTM_SIZES[size])


def with_image_encoder(cfg: ModelConfig, frame_shape, size: str = "cpu") -> ModelConfig:
    """cfg reading frames uint8[frame_shape] (H, W, C) through the image encoder of `size`
    ("paper" or "cpu", IMAGE_SIZES); everything else unchanged."""
    if size not in IMAGE_SIZES:
        raise ValueError(f"image encoder size must be one of {tuple(IMAGE_SIZES)}, got {size!r}")
    return dataclasses.replace(cfg, obs_dims=tuple(frame_shape), obs_encoder="image",
                               **IMAGE_SIZES[size])
