"""Training recipes: YAML files of flat hyperparameters, validated, overridable from the CLI.

A recipe is a name (``lima``, ``quick``: files in ``mixwise/finetune/recipes/``)
or a path to a YAML file. Every key is a field of :class:`Recipe`; unknown keys
fail with a did-you-mean. ``--set key=value`` overrides a key (the value is
parsed as YAML, so ``--set lr=2e-5`` and ``--set betas=[0.9,0.999]`` work).

"Small model" values (LIMA used batch 64 and top-layer dropout 0.2 for its
smaller models) apply when the model has fewer than ``small_model_params``
parameters; :func:`resolve_for_model` does that and the run record keeps both.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mixwise.errors import SpecError, did_you_mean

RECIPES_DIR = Path(__file__).parent / "recipes"


@dataclass
class Recipe:
    """Every knob of a training run; the YAML recipes set these by name."""

    # optimisation
    epochs: int = 15
    batch_size: int = 32  # sequences per optimizer step, over all processes and accumulation steps
    micro_batch_size: int = 4  # sequences per forward pass and process
    lr: float = 1e-5
    lr_end: float = 1e-6  # linear decay from lr to lr_end over the whole run
    warmup_steps: int = 0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    weight_decay: float = 0.1
    max_grad_norm: float | None = 1.0
    # data
    max_length: int = 2048  # tokens per text; longer texts are trimmed at the end
    packing: bool = False
    shuffle: bool = True  # reshuffle every epoch with (seed, epoch); false keeps manifest order
    seed: int = 0
    # regularisation
    residual_dropout: float = 0.3  # at the top layer; rises linearly from 0.0 at the bottom
    # "small model" variants (LIMA: batch 64, dropout 0.2 for its smaller models)
    small_model_params: float = 1.0e10
    small_batch_size: int | None = 64
    small_residual_dropout: float | None = 0.2
    # memory / speed
    gradient_checkpointing: bool = False
    bf16: str = "auto"  # auto (on GPU), true, false
    attn_implementation: str = "sdpa"
    lora: dict | None = None  # e.g. {r: 16, alpha: 32, dropout: 0.05, target_modules: all-linear}
    # checkpoints
    save_epochs: list[int] = field(default_factory=list)  # epochs after which a checkpoint is kept
    save_every_steps: int = 0  # resumable checkpoints every N optimizer steps (0: off)
    log_every: int = 1
    # multi-process (torchrun)
    strategy: str = "ddp"  # ddp or fsdp

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELDS = {f.name: f for f in dataclasses.fields(Recipe)}
CHOICES = {"bf16": ("auto", "true", "false"), "strategy": ("ddp", "fsdp"),
           "attn_implementation": ("sdpa", "eager", "flash_attention_2", "flex_attention")}


def known_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def recipe_path(name_or_path: str) -> Path:
    """The YAML file of a built-in recipe name or a path."""
    p = Path(name_or_path).expanduser()
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise SpecError(f"no such recipe file: {p}", "check the path, or use one of: " + ", ".join(known_recipes()))
        return p
    builtin = RECIPES_DIR / f"{name_or_path}.yaml"
    if not builtin.is_file():
        raise SpecError(f"unknown recipe {name_or_path!r}", did_you_mean(name_or_path, known_recipes()))
    return builtin


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["lr=2e-5", "packing=true"]`` -> ``{"lr": 2e-05, "packing": True}`` (values parsed as YAML)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"bad override {item!r}", "write --set KEY=VALUE, e.g. --set lr=2e-5")
        out[key.strip()] = yaml.safe_load(value) if value.strip() else None
    return out


def _check_value(name: str, value: Any, where: str) -> Any:
    f = FIELDS[name]
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    kind = str(f.type)
    if value is None:
        if "None" in kind:
            return None
        raise SpecError(f"{where}: {name} cannot be empty", f"give a value like {default!r}")
    if name == "bf16":
        value = str(value).lower()
    if kind.startswith("float") and isinstance(value, str):  # PyYAML reads 1.0e10 (no exponent sign) as text
        try:
            value = float(value)
        except ValueError:
            pass
    if name in CHOICES and value not in CHOICES[name]:
        raise SpecError(f"{where}: {name}={value!r} is not allowed", did_you_mean(str(value), CHOICES[name]))
    if kind.startswith("int") and (isinstance(value, bool) or not isinstance(value, int)):
        raise SpecError(f"{where}: {name} must be an integer, got {value!r}", f"e.g. {name}: {default}")
    if kind.startswith("float") and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise SpecError(f"{where}: {name} must be a number, got {value!r}", f"e.g. {name}: {default}")
    if kind == "bool" and not isinstance(value, bool):
        raise SpecError(f"{where}: {name} must be true or false, got {value!r}", f"e.g. {name}: {str(default).lower()}")
    if kind.startswith("list") and not isinstance(value, list):
        raise SpecError(f"{where}: {name} must be a list, got {value!r}", f"e.g. {name}: {default}")
    if kind.startswith("dict") and not isinstance(value, dict):
        raise SpecError(f"{where}: {name} must be a mapping, got {value!r}", "e.g. lora: {r: 16, alpha: 32}")
    return float(value) if kind.startswith("float") else value


def validate(recipe: Recipe, where: str = "recipe") -> Recipe:
    """Cross-field checks; returns the recipe or raises :class:`SpecError` naming the fix."""
    r = recipe
    positive = {"epochs": r.epochs, "batch_size": r.batch_size, "micro_batch_size": r.micro_batch_size, "max_length": r.max_length}
    for name, value in positive.items():
        if value < 1:
            raise SpecError(f"{where}: {name} must be at least 1, got {value}", f"set {name} to a positive integer")
    if not (0 < r.lr < 1) or not (0 <= r.lr_end <= r.lr):
        raise SpecError(f"{where}: need 0 < lr < 1 and 0 <= lr_end <= lr, got lr={r.lr}, lr_end={r.lr_end}", "fix lr / lr_end")
    if len(r.betas) != 2 or not all(0 <= b < 1 for b in r.betas):
        raise SpecError(f"{where}: betas must be two numbers in [0, 1), got {r.betas}", "e.g. betas: [0.9, 0.95]")
    for name in ("residual_dropout", "small_residual_dropout"):
        value = getattr(r, name)
        if value is not None and not 0 <= value < 1:
            raise SpecError(f"{where}: {name} must be in [0, 1), got {value}", f"e.g. {name}: 0.1")
    if r.micro_batch_size > r.batch_size:
        raise SpecError(f"{where}: micro_batch_size {r.micro_batch_size} > batch_size {r.batch_size}", "lower micro_batch_size")
    bad = [e for e in r.save_epochs if not isinstance(e, int) or not 1 <= e <= r.epochs]
    if bad:
        raise SpecError(f"{where}: save_epochs {bad} outside 1..{r.epochs}", "list epochs between 1 and epochs")
    if r.lora is not None:
        unknown = set(r.lora) - {"r", "alpha", "dropout", "target_modules"}
        if unknown:
            raise SpecError(f"{where}: unknown lora keys {sorted(unknown)}", "known: r, alpha, dropout, target_modules")
    return r


def load_recipe(name_or_path: str = "lima", overrides: dict[str, Any] | None = None) -> Recipe:
    """The recipe from its YAML file with ``overrides`` applied, validated."""
    path = recipe_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise SpecError(f"recipe {path} is not valid YAML: {e}", "fix the file") from e
    if not isinstance(data, dict):
        raise SpecError(f"recipe {path} must be a mapping of key: value", "see mixwise/finetune/recipes/lima.yaml")
    values = {}
    for where, source in ((str(path), data), ("override", overrides or {})):
        for key, value in source.items():
            if key not in FIELDS:
                raise SpecError(f"{where}: unknown recipe key {key!r}", did_you_mean(key, FIELDS))
            values[key] = _check_value(key, value, where)
    return validate(Recipe(**values), str(path))


def resolve_for_model(recipe: Recipe, n_params: int) -> Recipe:
    """The recipe with its small-model values applied when the model is small."""
    if n_params >= recipe.small_model_params:
        return recipe
    changes = {}
    if recipe.small_batch_size is not None:
        changes["batch_size"] = recipe.small_batch_size
    if recipe.small_residual_dropout is not None:
        changes["residual_dropout"] = recipe.small_residual_dropout
    return validate(dataclasses.replace(recipe, **changes))
