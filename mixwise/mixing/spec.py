"""Mixture specs: a readable YAML file -> validated, frozen dataclasses.

A spec names a mixture, its seed, an optional global size, a dedup policy and
named components. Amounts carry explicit units so ``1`` vs ``1.0`` can never be
misread: ``count`` (whole samples), ``share`` (fraction of the final mix),
``tokens`` (estimated tokens) or ``repeat`` (every matching row, N times)::

    # LIMA + Instruct, as in the LIMIT paper. Run: mixwise mix manifests/limit/lima_plus_instruct.yaml
    name: lima-plus-instruct
    seed: 17
    sources: {lima: hf:GAIR/lima, dolly_hhrlhf: hf:mosaicml/dolly_hhrlhf}
    dedup: {drop: [exact, near]}
    components:
      - name: assistant
        filter: {source: lima}
        count: 1000
        strategy: random

This module checks the spec's *shape* only; :mod:`mixwise.mixing.filters` checks
it against a scored table (known sources, present columns). Errors name the
field, the bad value and the fix.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from mixwise.errors import SpecError, did_you_mean

AMOUNT_UNITS = ("count", "share", "tokens", "repeat")
STRATEGIES = ("random", "per_cluster", "diverse", "top")
DUP_KINDS = ("exact", "near", "semantic", "same_prompt", "same_response", "short_generic")
#: Numeric length columns a filter may bound (``tokens`` is the chars/4 estimate).
LENGTH_KEYS = ("prompt_chars", "response_chars", "n_turns", "tokens")
#: Categorical filter keys -> the column they match.
VALUE_KEYS = {"source": "source", "style": "style", "category": "category", "template": "template"}
FILTER_KEYS = (*VALUE_KEYS, "cluster", "ids", *LENGTH_KEYS, "score", "include", "exclude")
COMPONENT_KEYS = ("name", "filter", *AMOUNT_UNITS, "strategy", "by", "shortfall", "embed_field", "per_source")
#: FLAN-style rates for splitting a component over its sources (``per_source: {rate: ...}``).
RATES = ("examples_proportional", "temperature")
PER_SOURCE_KEYS = ("rate", "cap", "temperature")
SPEC_KEYS = ("name", "seed", "size", "sources", "dedup", "components", "shortfall", "description", "tokenizer")
NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class Bounds:
    """Inclusive numeric bounds; ``None`` leaves a side open."""

    min: float | None = None
    max: float | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in (("min", self.min), ("max", self.max)) if v is not None}


@dataclass(frozen=True)
class Filter:
    """A predicate over the scored table: all given keys must hold (AND).

    ``include`` is a sub-filter that must also hold (a readable way to group
    conditions); ``exclude`` is a sub-filter whose matches are removed.
    """

    values: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (key, allowed values) for VALUE_KEYS
    cluster: tuple[int | str, ...] = ()  # ids (int) or labels (str)
    ids: tuple[str, ...] = ()
    lengths: tuple[tuple[str, Bounds], ...] = ()
    scores: tuple[tuple[str, Bounds], ...] = ()
    exclude: "Filter | None" = None
    include: "Filter | None" = None

    def value(self, key: str) -> tuple[str, ...]:
        return dict(self.values).get(key, ())

    def to_dict(self) -> dict:
        out: dict[str, Any] = {k: list(v) for k, v in self.values}
        if self.cluster:
            out["cluster"] = list(self.cluster)
        if self.ids:
            out["ids"] = list(self.ids)
        out.update({k: b.to_dict() for k, b in self.lengths})
        if self.scores:
            out["score"] = {k: b.to_dict() for k, b in self.scores}
        if self.include is not None:
            out["include"] = self.include.to_dict()
        if self.exclude is not None:
            out["exclude"] = self.exclude.to_dict()
        return out


@dataclass(frozen=True)
class Amount:
    """How much of a component: ``unit`` is one of AMOUNT_UNITS."""

    unit: str
    value: int | float


@dataclass(frozen=True)
class Component:
    name: str
    filter: Filter
    amount: Amount
    strategy: str = "random"
    by: str | None = None  # score column for strategy ``top``
    shortfall: str = "error"  # or "allow": take what there is and record the gap
    embed_field: str = "prompt"  # embeddings used by strategy ``diverse``
    #: FLAN-style split over the sources the filter matches: {rate, cap, temperature}; None: one pool
    per_source: dict | None = None

    def to_dict(self) -> dict:
        out = {"name": self.name, "filter": self.filter.to_dict(), self.amount.unit: self.amount.value,
               "strategy": self.strategy, "shortfall": self.shortfall}
        if self.per_source is not None:
            out["per_source"] = dict(self.per_source)
        if self.by:
            out["by"] = self.by
        if self.strategy == "diverse":
            out["embed_field"] = self.embed_field
        return out


@dataclass(frozen=True)
class Spec:
    """A validated mixture spec. ``to_dict()`` is the canonical resolved form stored in manifests."""

    name: str
    seed: int
    components: tuple[Component, ...]
    size: Amount | None = None  # unit "samples" or "tokens"
    dedup_drop: tuple[str, ...] = ()
    sources: dict[str, str] = field(default_factory=dict)
    description: str = ""
    path: Path | None = None
    tokenizer: str | None = None  # count tokens with this tokenizer instead of the chars/4 estimate

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"name": self.name, "seed": self.seed, "dedup": {"drop": list(self.dedup_drop)},
                               "components": [c.to_dict() for c in self.components]}
        if self.size is not None:
            out["size"] = {self.size.unit: self.size.value}
        if self.sources:
            out["sources"] = dict(sorted(self.sources.items()))
        if self.description:
            out["description"] = self.description
        if self.tokenizer:
            out["tokenizer"] = self.tokenizer
        return out

    def referenced_sources(self) -> set[str]:
        """Source names named in any filter (including sub-filters)."""
        names: set[str] = set()
        stack = [c.filter for c in self.components]
        while stack:
            f = stack.pop()
            names.update(f.value("source"))
            stack += [g for g in (f.include, f.exclude) if g is not None]
        return names


# -- parsing ------------------------------------------------------------------------------------
def _fail(where: str, problem: str, fix: str) -> SpecError:
    return SpecError(f"{where}: {problem}", fix)


def _check_keys(where: str, data: dict, known: tuple[str, ...]) -> None:
    for key in data:
        if key not in known:
            raise _fail(where, f"unknown key {key!r}", did_you_mean(str(key), known))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _str_list(where: str, v: Any) -> tuple[str, ...]:
    items = v if isinstance(v, list) else [v]
    if not items or not all(isinstance(x, (str, int)) and not isinstance(x, bool) for x in items):
        raise _fail(where, f"expected a name or a list of names, got {v!r}", "write e.g. source: lima or source: [lima, alpaca]")
    return tuple(str(x) for x in items)


def _bounds(where: str, v: Any) -> Bounds:
    if isinstance(v, list) and len(v) == 2:
        v = {"min": v[0], "max": v[1]}
    if not isinstance(v, dict) or not v or set(v) - {"min", "max"}:
        raise _fail(where, f"expected bounds like {{min: 200, max: 4000}}, got {v!r}", "give min, max or both")
    for k, x in v.items():
        if x is not None and not _is_num(x):
            raise _fail(f"{where}.{k}", f"expected a number, got {x!r}", "write a number, e.g. min: 200")
    b = Bounds(v.get("min"), v.get("max"))
    if b.min is not None and b.max is not None and b.min > b.max:
        raise _fail(where, f"min {b.min} is larger than max {b.max}", "swap them")
    return b


def parse_filter(where: str, data: Any) -> Filter:
    """A filter mapping -> :class:`Filter` (shape checks only)."""
    if data is None:
        return Filter()
    if not isinstance(data, dict):
        raise _fail(where, f"expected a mapping, got {data!r}", "write e.g. filter: {source: lima, style: concise}")
    _check_keys(where, data, FILTER_KEYS)
    values = tuple((k, _str_list(f"{where}.{k}", data[k])) for k in VALUE_KEYS if k in data)
    cluster: tuple[int | str, ...] = ()
    if "cluster" in data:
        raw = data["cluster"] if isinstance(data["cluster"], list) else [data["cluster"]]
        if not raw or not all(isinstance(x, (int, str)) and not isinstance(x, bool) for x in raw):
            raise _fail(f"{where}.cluster", f"expected cluster ids or labels, got {data['cluster']!r}", "write e.g. cluster: [3, 7] or cluster: [python code]")
        cluster = tuple(raw)
    ids = _str_list(f"{where}.ids", data["ids"]) if "ids" in data else ()
    lengths = tuple((k, _bounds(f"{where}.{k}", data[k])) for k in LENGTH_KEYS if k in data)
    scores: tuple[tuple[str, Bounds], ...] = ()
    if "score" in data:
        if not isinstance(data["score"], dict) or not data["score"]:
            raise _fail(f"{where}.score", f"expected {{column: {{min: .., max: ..}}}}, got {data['score']!r}", "write e.g. score: {style_score_concise: {min: 0.8}}")
        scores = tuple(sorted((str(k), _bounds(f"{where}.score.{k}", v)) for k, v in data["score"].items()))
    exclude = parse_filter(f"{where}.exclude", data["exclude"]) if "exclude" in data else None
    include = parse_filter(f"{where}.include", data["include"]) if "include" in data else None
    return Filter(values, cluster, ids, lengths, scores, exclude, include)


def parse_amount(where: str, data: dict) -> Amount:
    given = [u for u in AMOUNT_UNITS if u in data]
    if len(given) != 1:
        got = ", ".join(given) if given else "none"
        raise _fail(where, f"give exactly one amount (count, share, tokens or repeat); got {got}", "e.g. count: 1000 or share: 0.25")
    unit = given[0]
    v = data[unit]
    if unit in ("count", "tokens", "repeat"):
        if isinstance(v, float) and v.is_integer():
            raise _fail(f"{where}.{unit}", f"{unit} is a whole number, got {v!r}", f"write {unit}: {int(v)}" + (" (or share: 0.x for a fraction of the mix)" if unit == "count" else ""))
        if not _is_int(v) or v < 1:
            raise _fail(f"{where}.{unit}", f"{unit} must be a positive whole number, got {v!r}", "e.g. count: 1000, tokens: 500000, repeat: 2; use share: 0.25 for a fraction")
    else:
        if not _is_num(v) or not 0 < v <= 1:
            hint = f"did you mean share: {v / 100:g} or count: {v}?" if _is_num(v) and v > 1 else "share is a fraction of the final mix in (0, 1], e.g. share: 0.25"
            raise _fail(f"{where}.share", f"share must be in (0, 1], got {v!r}", hint)
    return Amount(unit, v)


def parse_component(where: str, data: Any, default_shortfall: str) -> Component:
    if not isinstance(data, dict):
        raise _fail(where, f"expected a mapping, got {data!r}", "each component needs name, filter, an amount and a strategy")
    _check_keys(where, data, COMPONENT_KEYS)
    name = data.get("name")
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise _fail(f"{where}.name", f"expected a simple name, got {name!r}", "use letters, digits, '_', '-' or '.'")
    where = f"component {name!r}"
    strategy = data.get("strategy", "random")
    if strategy not in STRATEGIES:
        raise _fail(f"{where}.strategy", f"unknown strategy {strategy!r}", did_you_mean(str(strategy), STRATEGIES))
    by = data.get("by")
    if strategy == "top" and not isinstance(by, str):
        raise _fail(f"{where}.by", "strategy top needs a score column", "add e.g. by: style_score_long_form")
    if strategy != "top" and by is not None:
        raise _fail(f"{where}.by", f"'by' only applies to strategy top (strategy is {strategy!r})", "remove 'by' or use strategy: top")
    shortfall = data.get("shortfall", default_shortfall)
    if shortfall not in ("error", "allow"):
        raise _fail(f"{where}.shortfall", f"expected error or allow, got {shortfall!r}", "shortfall: allow takes what matches and records the gap")
    amount = parse_amount(where, data)
    if amount.unit == "repeat" and strategy != "random":
        raise _fail(f"{where}.strategy", f"repeat takes every matching row, so strategy {strategy!r} has no effect", "use strategy: random (the default) with repeat")
    embed_field = data.get("embed_field", "prompt")
    if embed_field not in ("prompt", "prompt_response"):
        raise _fail(f"{where}.embed_field", f"unknown embedding field {embed_field!r}", "use prompt or prompt_response")
    per_source = parse_per_source(f"{where}.per_source", data["per_source"], amount) if "per_source" in data else None
    return Component(name, parse_filter(f"{where}.filter", data.get("filter")), amount, strategy, by, shortfall, embed_field, per_source)


def parse_per_source(where: str, data: Any, amount: Amount) -> dict:
    """``per_source: {rate: examples_proportional, cap: 3000}`` or ``{rate: temperature, temperature: 2}``.

    FLAN's mixing: each source's rate is min(n, cap) (examples-proportional; FLAN used
    cap 3,000) or n ** (1 / temperature) (temperature sampling, optionally after the cap).
    """
    if not isinstance(data, dict):
        raise _fail(where, f"expected a mapping, got {data!r}", "e.g. per_source: {rate: examples_proportional, cap: 3000}")
    _check_keys(where, data, PER_SOURCE_KEYS)
    rate = data.get("rate")
    if rate not in RATES:
        raise _fail(f"{where}.rate", f"unknown rate {rate!r}", did_you_mean(str(rate), RATES))
    if amount.unit not in ("count", "share"):
        raise _fail(where, f"per_source splits a number of samples; the amount is {amount.unit}", "use count: or share: with per_source")
    cap = data.get("cap")
    if cap is not None and (not _is_int(cap) or cap < 1):
        raise _fail(f"{where}.cap", f"cap must be a positive whole number of samples, got {cap!r}", "e.g. cap: 3000 (FLAN's value)")
    if rate == "examples_proportional" and cap is None:
        raise _fail(f"{where}.cap", "examples_proportional needs a cap (rate = min(n, cap))", "e.g. cap: 3000")
    temp = data.get("temperature")
    if rate == "temperature":
        if not _is_num(temp) or temp <= 0:
            raise _fail(f"{where}.temperature", f"temperature must be a positive number, got {temp!r}", "e.g. temperature: 2 (1 is proportional to size)")
    elif temp is not None:
        raise _fail(f"{where}.temperature", "temperature only applies to rate: temperature", "remove it or set rate: temperature")
    out: dict[str, Any] = {"rate": rate}
    if cap is not None:
        out["cap"] = int(cap)
    if temp is not None:
        out["temperature"] = float(temp)
    return out


def _header_comment(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return "\n".join(lines).strip()


def parse_spec(data: Any, *, description: str = "", path: Path | None = None) -> Spec:
    """A loaded YAML mapping -> :class:`Spec`; raises SpecError naming the field, value and fix."""
    where = str(path) if path else "spec"
    if not isinstance(data, dict):
        raise _fail(where, f"expected a mapping at the top, got {type(data).__name__}", "start with name:, seed:, components:")
    _check_keys(where, data, SPEC_KEYS)
    name = data.get("name")
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise _fail(f"{where}.name", f"expected a simple name, got {name!r}", "e.g. name: lima-plus-instruct")
    seed = data.get("seed", 0)
    if not _is_int(seed):
        raise _fail(f"{where}.seed", f"seed must be an integer, got {seed!r}", "e.g. seed: 17")
    size = None
    if "size" in data:
        raw = data["size"]
        if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in ("samples", "tokens"):
            raise _fail(f"{where}.size", f"expected {{samples: N}} or {{tokens: N}}, got {raw!r}", "e.g. size: {samples: 6000}")
        unit, v = next(iter(raw.items()))
        if not _is_int(v) or v < 1:
            raise _fail(f"{where}.size.{unit}", f"expected a positive whole number, got {v!r}", f"e.g. size: {{{unit}: 6000}}")
        size = Amount(unit, v)
    dedup = data.get("dedup") or {}
    if not isinstance(dedup, dict):
        raise _fail(f"{where}.dedup", f"expected {{drop: [kinds]}}, got {dedup!r}", "e.g. dedup: {drop: [exact, near]}")
    _check_keys(f"{where}.dedup", dedup, ("drop",))
    drop = _str_list(f"{where}.dedup.drop", dedup["drop"]) if dedup.get("drop") else ()
    for kind in drop:
        if kind not in DUP_KINDS:
            raise _fail(f"{where}.dedup.drop", f"unknown duplicate kind {kind!r}", did_you_mean(kind, DUP_KINDS))
    sources = data.get("sources") or {}
    if not isinstance(sources, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in sources.items()):
        raise _fail(f"{where}.sources", f"expected {{name: hf:ORG/NAME or path}}, got {sources!r}", "e.g. sources: {lima: hf:GAIR/lima}")
    shortfall = data.get("shortfall", "error")
    if shortfall not in ("error", "allow"):
        raise _fail(f"{where}.shortfall", f"expected error or allow, got {shortfall!r}", "shortfall: allow takes what matches and records the gap")
    raw_components = data.get("components")
    if not isinstance(raw_components, list) or not raw_components:
        raise _fail(f"{where}.components", "needs a non-empty list of components", "add at least one: - {name: all, filter: {}, count: 1000}")
    components = tuple(parse_component(f"{where}.components[{i}]", c, shortfall) for i, c in enumerate(raw_components))
    names = [c.name for c in components]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise _fail(f"{where}.components", f"component names repeat: {', '.join(dup)}", "give each component its own name")
    shares = [c for c in components if c.amount.unit == "share"]
    if shares and size is None:
        raise _fail(f"{where}.size", f"component {shares[0].name!r} uses share but the spec has no global size", "add e.g. size: {samples: 6000}, or use count:")
    total_share = sum(c.amount.value for c in shares)
    if total_share > 1 + 1e-9:
        raise _fail(f"{where}.components", f"shares add up to {total_share:g}, more than 1", "lower them so they sum to at most 1")
    tokenizer = data.get("tokenizer")
    if tokenizer is not None and (not isinstance(tokenizer, str) or not tokenizer):
        raise _fail(f"{where}.tokenizer", f"expected a model name or path, got {tokenizer!r}", "e.g. tokenizer: gemma3-270m, or omit it for the chars/4 estimate")
    desc = data.get("description") or description
    return Spec(name, seed, components, size, drop, dict(sources), str(desc or ""), path, tokenizer)


def load_spec(path: str | os.PathLike, *, overrides: dict[str, str] | None = None) -> Spec:
    """Read and validate a spec file; ``overrides`` replaces entries of its ``sources:`` block."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise SpecError(f"no spec file at {p}", "check the path (specs are YAML files, e.g. manifests/limit/lima_1k.yaml)")
    text = p.read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(f"{p}: invalid YAML{at}: {getattr(e, 'problem', e)}", "fix the YAML syntax (indentation, colons, quotes)") from e
    spec = parse_spec(data, description=_header_comment(text), path=p.resolve())
    if overrides:
        sources = dict(spec.sources)
        for k, v in overrides.items():
            sources[k] = v
        spec = replace(spec, sources=sources)
    return spec


def allow_shortfall(spec: Spec) -> Spec:
    """The spec with every component's shortfall set to ``allow`` (``mixwise mix --allow-shortfall``)."""
    comps = tuple(replace(c, shortfall="allow") for c in spec.components)
    return replace(spec, components=comps)


def parse_overrides(items: list[str]) -> dict[str, str]:
    """``["lima=../data/lima.json", ...]`` -> ``{"lima": "../data/lima.json"}``."""
    out = {}
    for item in items:
        name, sep, where = item.partition("=")
        if not sep or not name or not where:
            raise SpecError(f"bad --source {item!r}", "write --source NAME=PATH_OR_HF_ID, e.g. --source lima=../shared/data/instruct/lima_train.json")
        # A path given on the command line is relative to the current directory, not to the spec.
        out[name] = where if where.startswith("hf:") else str(Path(where).expanduser().resolve())
    return out
