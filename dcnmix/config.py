"""The configurations every part of dcnmix shares, each validated once, here.

    Variant      the DCN-Mix cross layer's variant options (gate, biases, g, C, initialisation)
    ModelConfig  a model: a DCN (the seed's constructor arguments plus a Variant) or another
                 model of the registry (dcnmix.models: FM, FFM, PNN, DeepFM, NFM, DNN,
                 CrossNet, DCN v1, xDeepFM, AutoInt+, DLRM), by `model`
    TrainConfig  how to train it (optimiser, early stopping, batches, compute dtype)

Framework-free: both frameworks, the weights format, the CLI and parity read the names,
defaults and choices from these dataclasses (the CLI builds its flags from them).
"""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from . import models as _models
from . import optimizers as _optimizers

CROSS_TYPES = ("mix", "full")
METHODS = ("parallel", "stacked")
GATES = ("softmax", "sigmoid", "constant")
ACTIVATIONS = ("none", "relu", "tanh", "hard_tanh")
INITS = ("seed", "deepctr", "torchrec")
KERNEL_INITS = ("seed", "he_normal")
MIXTURES = ("gemm", "experts", "vmap")
DTYPES = ("float32", "bfloat16", "float64")
EMBEDDING_OPTIMIZERS = ("dense", "lazy")
POOLINGS = ("mean", "sum")
PRODUCTS = ("inner", "outer", "both")
INTERACTIONS = ("dot", "cat")

# the models (declared once each in dcnmix.models): their names, the options each has
# (besides field_num, feat_dim and model itself; the others must keep their defaults, and are
# left out of to_dict() and kwargs()), and the presets ModelConfig.create fills in
MODELS = _models.names()
OPTIONS = {name: _models.spec(name).options for name in MODELS}
BASELINE_PRESETS = {name: dict(_models.spec(name).preset) for name in MODELS
                    if _models.spec(name).preset}


class ConfigError(ValueError):
    """An option value that is not allowed; `field` names the option."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


def _option(default, help: str, choices: tuple | None = None):
    """A dataclass field whose metadata carries its help text and choices (the CLI reads them)."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


def choices_of(cls, name: str) -> tuple | None:
    return next(f.metadata.get("choices") for f in dataclasses.fields(cls) if f.name == name)


def _check_choices(obj) -> None:
    for f in dataclasses.fields(obj):
        value, allowed = getattr(obj, f.name), f.metadata.get("choices")
        if allowed is not None and value not in allowed:
            raise ConfigError(f.name, f"unknown {f.name} {value!r} (expected one of {allowed})")
        if f.type in ("bool", bool) and not isinstance(value, bool):
            raise ConfigError(f.name, f"{f.name} must be True or False, got {value!r}")


@dataclasses.dataclass(frozen=True)
class Variant:
    """The variant options of the DCN-Mix cross layer (cross='mix'); the defaults are the seed's.

        E_i(x_l) = x0 * (U_i g(C_i g(V_i^T x_l)) + b),   x_{l+1} = sum_i w_i(x_l) E_i(x_l) + x_l
    """

    gate: str = _option("softmax", "expert weights w: softmax or sigmoid of a linear gate, "
                                   "or constant 1/K", GATES)
    gate_bias: bool = _option(True, "the gate's Linear has a bias")
    shared_gates: bool = _option(False, "one gate for all layers instead of one per layer")
    expert_bias: bool = _option(True, "a bias per expert (seed); off: one per layer (paper)")
    activation: str = _option("none", "g, the nonlinearity in the rank-r space", ACTIVATIONS)
    c_matrix: bool = _option(False, "the r x r matrix C_i between two applications of g")
    init_scheme: str = _option("seed", "initialisation: the seed's, DeepCTR-Torch's or "
                                       "torchrec's", INITS)

    def __post_init__(self):
        _check_choices(self)

    def kwargs(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **options) -> "Variant":
        return dataclasses.replace(self, **options)

    @classmethod
    def preset(cls, name: str) -> "Variant":
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r} (expected one of {tuple(PRESETS)})")
        return PRESETS[name]

    def preset_name(self) -> str | None:
        """The preset these options equal, if any."""
        return next((n for n, p in PRESETS.items() if p == self), None)


VARIANT_FIELDS = tuple(f.name for f in dataclasses.fields(Variant))
PRESETS = {
    # the seed article: per-layer Linear(M, K) gate with bias, softmax, bias per expert, no g, no C
    "seed": Variant(),
    # DCN-V2 paper, Eq. 3-4: one bias per layer, g and C; what it leaves free (the gate's
    # form, g, the initialisation) takes the seed's choices and relu
    "paper": Variant(expert_bias=False, activation="relu", c_matrix=True),
    # DeepCTR-Torch / FuxiCTR CrossNetMix: K bias-free Linear(M, 1) gates shared by all layers
    "deepctr": Variant(gate_bias=False, shared_gates=True, expert_bias=False, activation="tanh",
                       c_matrix=True, init_scheme="deepctr"),
    # torchrec LowRankMixtureCrossNet: as DeepCTR with g = relu (and no gate when K = 1)
    "torchrec": Variant(gate_bias=False, shared_gates=True, expert_bias=False, activation="relu",
                        c_matrix=True, init_scheme="torchrec"),
}


@dataclasses.dataclass(frozen=True)
class Inputs:
    """The typed inputs beside the single-id fields, the same for every model (the input
    layer, dcnmix_jax.inputs / dcnmix_torch.inputs; docs/data.md):

        dense_num        dense values [B, D] (transformed by the data's feature map)
        multi_num        multi-valued fields [B, Fm, L] (ids, -1 = padding), each pooled into
                         one field embedding by `pooling` (mean or sum of its elements')
        dense_embedding  each dense value times a learned vector, a field of its own (what
                         FM, FFM, PNN, DeepFM and NFM need); off: DCN's x0 = [embeddings; dense]

    The default, no typed inputs, is the seed's: ids [B, field_num] only."""

    dense_num: int = _option(0, "dense (continuous) values per row")
    multi_num: int = _option(0, "multi-valued fields (lists of ids) per row")
    pooling: str = _option("mean", "how a multi-valued field's element embeddings pool", POOLINGS)
    dense_embedding: bool = _option(False, "embed each dense value as value x a learned vector "
                                           "(a field) instead of concatenating it to x0")

    def __post_init__(self):
        _check_choices(self)
        for name in ("dense_num", "multi_num"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ConfigError(name, f"{name} must be an integer >= 0, got {getattr(self, name)!r}")

    @property
    def typed(self) -> bool:
        return bool(self.dense_num or self.multi_num)

    def fields(self, field_num: int) -> int:
        """Field embeddings the input layer yields: single-id fields, pooled multi-valued
        fields and, with dense_embedding, one per dense value."""
        return field_num + self.multi_num + (self.dense_num if self.dense_embedding else 0)

    @property
    def concatenated(self) -> int:
        """Dense values appended to x0 as they are (0 with dense_embedding)."""
        return 0 if self.dense_embedding else self.dense_num


INPUT_FIELDS = tuple(f.name for f in dataclasses.fields(Inputs))


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Constructor arguments of dcnmix_jax.DCN and dcnmix_torch.DCN: the seed's names and
    defaults, then the variant options as one `Variant`; or, with `model` other than 'dcn',
    of another model of dcnmix.models, which has only the options
    OPTIONS[model] (the others keep their defaults; order_num stays None)."""

    field_num: int
    feat_dim: int
    emb_num: int = _option(dataclasses.MISSING, "embedding size per field")
    order_num: int | None = _option(None, "cross layers (dcn, crossnet, dcnv1) or self-attention "
                                          "layers (autoint)")
    r: int = _option(16, "rank of each expert (cross='mix')")
    k: int = _option(4, "experts per cross layer (cross='mix')")
    dropout: float = _option(0.1, "dropout after each DNN (tower) layer")
    method: str = _option("parallel", "cross network and DNN side by side or in sequence", METHODS)
    hidden_nums: tuple[int, ...] = _option((128, 64, 32), "DNN widths, comma-separated")
    cross: str = _option("mix", "DCN-Mix's mixture of low-rank experts, or DCN-V2's full-rank "
                                "layer", CROSS_TYPES)
    variant: Variant = Variant()
    model: str = _option("dcn", "dcn (DCN-Mix or DCN-V2, by --cross), a baseline of the seed's "
                                "table, or one of the DCN-V2 paper's Table 6: dnn, crossnet, "
                                "dcnv1, xdeepfm, autoint, dlrm (docs/baselines.md)", MODELS)
    batch_norm: bool = _option(True, "the models with a tower (all but fm, ffm, crossnet, dcn): "
                                     "BatchNorm after each of its layers (DCN's DNN always has it)")
    product: str = _option("inner", "pnn: inner products (IPNN), outer (OPNN) or both", PRODUCTS)
    cin_nums: tuple[int, ...] = _option((16, 16, 16), "xdeepfm: feature maps of each CIN layer, "
                                                      "comma-separated")
    attention_dim: int = _option(32, "autoint: the width of each self-attention layer's output "
                                     "(all heads together)")
    heads: int = _option(2, "autoint: attention heads (attention_dim divisible by them)")
    bottom_nums: tuple[int, ...] = _option((64,), "dlrm: the bottom MLP's hidden widths over the "
                                                  "dense values (its last layer is emb_num wide)")
    interaction: str = _option("dot", "dlrm: the top MLP reads the dot product of every pair of "
                                      "vectors (DLRM's) or the vectors concatenated (cat, "
                                      "BARS's Frappe setting)", INTERACTIONS)
    inputs: Inputs = Inputs()

    def __post_init__(self):
        for name in ("hidden_nums", "cin_nums", "bottom_nums"):
            object.__setattr__(self, name, tuple(int(h) for h in getattr(self, name)))
        if isinstance(self.variant, dict):
            object.__setattr__(self, "variant", Variant(**self.variant))
        if isinstance(self.inputs, dict):
            object.__setattr__(self, "inputs", Inputs(**self.inputs))
        _check_choices(self)
        self._check_options()
        self._check_inputs()
        if self.inputs.fields(self.field_num) + self.inputs.dense_num < 1:
            raise ConfigError("field_num", "a model needs at least one field")
        for name in ("feat_dim", "emb_num", "order_num", "r", "k"):
            if getattr(self, name) is not None and int(getattr(self, name)) < 1:
                raise ConfigError(name, f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("hidden_nums", "cin_nums"):
            if not getattr(self, name) or min(getattr(self, name)) < 1:
                raise ConfigError(name, f"{name} must be positive sizes, got {getattr(self, name)}")
        if self.bottom_nums and min(self.bottom_nums) < 1:
            raise ConfigError("bottom_nums", f"bottom_nums must be positive sizes, got {self.bottom_nums}")
        for name in ("attention_dim", "heads"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(name, f"{name} must be >= 1, got {getattr(self, name)}")
        if self.attention_dim % self.heads:
            raise ConfigError("heads", f"attention_dim {self.attention_dim} is not divisible by "
                                       f"{self.heads} heads")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("dropout", f"dropout must be in [0, 1), got {self.dropout}")
        if self.cross == "full" and self.variant != Variant():
            raise ConfigError("cross", "the variant options apply to cross='mix' only "
                                       "(DCN-V2 has no experts)")

    def _check_inputs(self) -> None:
        """Dense values go into x0 as they are only where the model has an x0 (the DCN family,
        the DNN); the other models embed them (dense_embedding)."""
        if self.field_num is None or int(self.field_num) < (0 if self.inputs.typed else 1):
            raise ConfigError("field_num", f"field_num must be >= 1, got {self.field_num!r}")
        if self.inputs.concatenated and not _models.spec(self.model).dense_concat:
            raise ConfigError("dense_embedding", f"model {self.model} takes dense values as "
                                                 "embedded fields: --dense-embedding on")

    def _check_options(self) -> None:
        """A model's options only (OPTIONS[model]): a cross network needs order_num; the
        options of other models keep their defaults."""
        if "order_num" in OPTIONS[self.model] and self.order_num is None:
            raise ConfigError("order_num", f"model {self.model} needs order_num (cross layers)")
        for f in dataclasses.fields(self):
            if f.name in ("field_num", "feat_dim", "model", "inputs") or f.name in OPTIONS[self.model]:
                continue
            if getattr(self, f.name) != f.default:
                owners = [m for m, names in OPTIONS.items() if f.name in names]
                name = f.name if f.name != "variant" else next(
                    v.name for v in dataclasses.fields(Variant)
                    if getattr(self.variant, v.name) != v.default)
                raise ConfigError(name, f"{name} is an option of model {' or '.join(owners)}, "
                                        f"not of {self.model}")

    @classmethod
    def create(cls, **fields) -> "ModelConfig":
        """A config from flat keywords: the variant options may be given by name beside the
        seed's arguments (gate='sigmoid', ...), or as variant=Variant(...). A baseline's
        options left out take its seed preset (BASELINE_PRESETS)."""
        model = fields.get("model", "dcn")
        if model not in MODELS:
            raise ConfigError("model", f"unknown model {model!r} (expected one of {MODELS})")
        fields = {**_models.spec(model).preset, **fields}
        options = {k: fields.pop(k) for k in VARIANT_FIELDS if k in fields}
        variant = fields.pop("variant", Variant())
        if isinstance(variant, dict):
            variant = Variant(**variant)
        inputs = fields.pop("inputs", Inputs())
        inputs = Inputs(**inputs) if isinstance(inputs, dict) else inputs
        typed = {k: fields.pop(k) for k in INPUT_FIELDS if k in fields}
        if "dense_embedding" not in typed and not _models.spec(model).dense_concat:
            typed["dense_embedding"] = bool(typed.get("dense_num", inputs.dense_num))
        return cls(**fields, variant=variant.replace(**options),
                   inputs=dataclasses.replace(inputs, **typed))

    @classmethod
    def preset(cls, name: str, **fields) -> "ModelConfig":
        """A config with the variant options of PRESETS[name]; `fields` give the rest (and
        may override single variant options)."""
        return cls.create(variant=Variant.preset(name), **fields)

    def preset_name(self) -> str | None:
        return self.variant.preset_name()

    @property
    def fields(self) -> int:
        """Field embeddings the input layer yields (field_num without typed inputs)."""
        return self.inputs.fields(self.field_num)

    @property
    def input_num(self) -> int:
        """M, the width of x0 (the concatenated embeddings, then any dense values as they
        are) and of every cross layer."""
        return self.fields * self.emb_num + self.inputs.concatenated

    def kwargs(self) -> dict:
        """Keyword arguments of the model in either framework: DCN(**cfg.kwargs()), or
        dcnmix_*.model.model_for(cfg), the class declared in dcnmix.models; `inputs` only
        when typed (the seed's constructors otherwise)."""
        names = ("field_num", "feat_dim") + OPTIONS[self.model]
        out = {name: getattr(self, name) for name in names}
        return {**out, "inputs": self.inputs} if self.inputs != Inputs() else out

    def to_dict(self) -> dict:
        """The model's options (a DCN's are the keys written before baselines existed, so old
        run folders and weights files compare equal); `model` for a baseline; `inputs` only
        when typed."""
        out = dataclasses.asdict(self)
        out = {k: v for k, v in out.items() if k in self.kwargs()}
        return out if self.model == "dcn" else {**out, "model": self.model}

    def __repr__(self) -> str:
        shown = ({} if self.model == "dcn" else {"model": self.model}) | self.kwargs()
        return f"ModelConfig({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        """From to_dict's output, or from the flat form of files written before Variant."""
        return cls.create(**{k: (tuple(v) if k == "hidden_nums" else v) for k, v in data.items()})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"a model config is a JSON object, got {type(data).__name__}")
        return cls.from_dict(data)


def model_defaults(model: str) -> dict:
    """What `dcnmix train` and dcnmix.train() use for the options a caller leaves out (field_num
    and feat_dim come from the data): the model's declared defaults and seed preset
    (dcnmix.models), e.g. a DCN's emb_num 16 and order_num 2."""
    if model not in MODELS:
        raise ConfigError("model", f"unknown model {model!r} (expected one of {MODELS})")
    return _models.spec(model).all_defaults()


def _positive(name: str, value, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and math.isfinite(value) and (
        value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ConfigError(name, f"{name} must be {'>= 0' if allow_zero else '> 0'} and finite, got {value!r}")


# named sets of training options over TrainConfig's defaults (`dcnmix train --recipe`,
# TrainConfig.recipe): the seed's, and the one measured better on Frappe
# (docs/experiments.md "The recommended recipe": embedding L2, lr decay, patience 3)
RECIPES = {"seed": {},
           "recommended": {"emb_weight_decay": 0.05, "lr_decay": 0.1, "patience": 3}}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How to train: the optimiser (dcnmix.optimizers; torch's Adam by default), early
    stopping on validation AUC, the compute options."""

    epochs: int = _option(100, "most epochs (early stopping ends sooner)")
    patience: int = _option(10, "epochs without validation-AUC gain before stopping")
    batch_size: int = _option(1024, "rows per step")
    optimizer: str = _option("adam", "torch's Adam (the seed's), AdamW, Adagrad or SGD, in both "
                                     "frameworks (docs/training.md)", _optimizers.NAMES)
    lr: float = _option(1e-3, "the learning rate")
    momentum: float = _option(0.0, "sgd: momentum (0: plain SGD)")
    weight_decay: float = _option(0.0, "L2: coupled (added to the gradient) for adam, adagrad "
                                       "and sgd, as torch's; decoupled for adamw")
    emb_weight_decay: float | None = _option(None, "L2 on the embedding table alone "
                                                   "(default: --weight-decay)")
    clip_norm: float | None = _option(None, "clip the gradients' global L2 norm to this before "
                                            "the optimiser, as torch.nn.utils.clip_grad_norm_ "
                                            "(the DCN-V2 paper's 10); none: off")
    init: str = _option("seed", "the kernels of every Linear layer: the seed's xavier normal, or "
                                "he_normal, N(0, 2 / fan_in) as torch's kaiming_normal_ (the "
                                "DCN-V2 paper's)", KERNEL_INITS)
    ema: float | None = _option(None, "keep an exponential moving average of the parameters "
                                      "with this decay (torch's AveragedModel; the DCN-V2 "
                                      "paper's 0.9999): the evaluated and saved weights are "
                                      "the averaged ones; none: off")
    embedding_optimizer: str = _option("dense", "jax: 'lazy' updates only the embedding rows "
                                                "of each batch (large tables)", EMBEDDING_OPTIMIZERS)
    lr_decay: float | None = _option(None, "multiply the learning rate by this after each epoch "
                                           "without validation gain (reduce-on-plateau)")
    min_lr: float = _option(1e-6, "the learning rate never decays below this")
    seed: int = _option(0, "initialisation, dropout and batch order")
    dtype: str = _option("float32", "jax compute dtype (parameters stay float32; float64 needs "
                                    "JAX_ENABLE_X64=1)", DTYPES)
    mixture: str = _option("gemm", "jax: the mixture's arithmetic form, equal in exact "
                                   "arithmetic (gemm: two GEMMs; experts: the seed's order; "
                                   "vmap: one expert module mapped over K)", MIXTURES)
    divergence: float = _option(100.0, "stop when an epoch's mean training loss exceeds this "
                                       "multiple of the first epoch's (0: never)")
    shuffle_buffer: int = _option(1_000_000, "a sharded prepared folder's training rows are "
                                             "shuffled this many at a time (0: all of this "
                                             "process's rows; docs/training.md)")

    def __post_init__(self):
        _check_choices(self)
        for name in ("epochs", "patience", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 1 <= value < 2 ** 31:
                raise ConfigError(name, f"{name} must be an integer in [1, 2^31), got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or \
                not 0 <= self.seed < 2 ** 31:
            # torch.manual_seed, jax.random.key and numpy's generators all take it
            raise ConfigError("seed", f"seed must be an integer in [0, 2^31), got {self.seed!r}")
        _positive("lr", self.lr)
        _positive("min_lr", self.min_lr)
        _positive("weight_decay", self.weight_decay, allow_zero=True)
        _positive("divergence", self.divergence, allow_zero=True)
        if self.emb_weight_decay is not None:
            _positive("emb_weight_decay", self.emb_weight_decay, allow_zero=True)
        _positive("momentum", self.momentum, allow_zero=True)
        if self.clip_norm is not None:
            _positive("clip_norm", self.clip_norm)
            if self.embedding_optimizer == "lazy":
                raise ConfigError("clip_norm", "--embedding-optimizer lazy never forms the whole "
                                               "gradient that clipping needs: use dense")
        if self.ema is not None:
            if not (isinstance(self.ema, (int, float)) and 0 < self.ema < 1):
                raise ConfigError("ema", f"ema must be a decay in (0, 1), got {self.ema!r}")
            if self.embedding_optimizer == "lazy":
                raise ConfigError("ema", "--ema averages every parameter each step; the lazy "
                                         "embedding optimiser updates rows only: use dense")
        if isinstance(self.shuffle_buffer, bool) or not isinstance(self.shuffle_buffer, int) or \
                self.shuffle_buffer < 0:
            raise ConfigError("shuffle_buffer", f"shuffle_buffer must be an integer >= 0 (0: "
                                                f"all rows), got {self.shuffle_buffer!r}")
        for name, owner in _optimizers.OWN_OPTIONS.items():
            if self.optimizer != owner and getattr(self, name) != _default(TrainConfig, name):
                raise ConfigError(name, f"{name} is an option of --optimizer {owner}, not of "
                                        f"{self.optimizer}")
        if self.embedding_optimizer == "lazy" and not _optimizers.spec(self.optimizer).lazy:
            lazy = [n for n, s in _optimizers.REGISTRY.items() if s.lazy]
            raise ConfigError("embedding_optimizer", f"--optimizer {self.optimizer} has no lazy "
                                                     f"(row-wise) form; {' and '.join(lazy)} do")
        if self.lr_decay is not None and not (isinstance(self.lr_decay, (int, float))
                                              and 0 < self.lr_decay < 1):
            raise ConfigError("lr_decay", f"lr_decay must be in (0, 1), got {self.lr_decay!r}")

    @classmethod
    def recipe(cls, name: str, **fields) -> "TrainConfig":
        """The options of RECIPES[name], `fields` over them:
        TrainConfig.recipe("recommended", epochs=30)."""
        if name not in RECIPES:
            raise ConfigError("recipe", f"unknown recipe {name!r} (one of {', '.join(RECIPES)})")
        return cls(**{**RECIPES[name], **fields})

    def to_dict(self) -> dict[str, Any]:
        """Every field; those added after run folders were first written (ADDED) only when
        they differ from their defaults, so an earlier run's record compares equal."""
        out = dataclasses.asdict(self)
        return {k: v for k, v in out.items() if k not in ADDED or v != ADDED[k]}


# TrainConfig fields added after run folders were first written, with their defaults
ADDED = {"optimizer": "adam", "momentum": 0.0, "shuffle_buffer": 1_000_000, "clip_norm": None,
         "init": "seed", "ema": None}


def _default(cls, name: str):
    return cls.__dataclass_fields__[name].default
