"""Study specs: a YAML file naming a base mixture, a design, replicates, training and evaluation.

A study asks "which part of this mixture moves which score?". Every cell is a
child of the ``base`` mixture spec: the same components with other amounts, at
the same total (unless ``vary.total`` says otherwise)::

    # Purpose: how does the LIMA share move both paradigms? Run: mixwise ablate studies/lima-share.yaml
    name: lima-share
    seed: 0
    base: ../manifests/limit/lima_plus_instruct.yaml
    vary: {design: sweep, component: assistant, levels: [0.0, 0.25, 0.5, 0.75, 1.0]}
    replicates: 2
    train: {model: gemma3-270m, recipe: cpu-small, overrides: {epochs: 1}}
    eval:
      - {name: gauntlet, kind: mc, tasks: [arc_easy, piqa], data_dir: ../shared/data/mc/gauntlet, limit: 500}
    objective: {weights: {arc_easy: 1, piqa: 1}}

Designs (``vary.design``): ``leave_one_out`` (each listed component removed, the
total held fixed), ``sweep`` (one component's share over ``levels``, the others
keeping their proportions; or a FLAN ``cap`` / ``temperature`` over ``levels``
for a ``per_source`` component), ``simplex`` (``cells`` mixtures from a seeded
Dirichlet over the listed components, with optional ``min`` / ``max`` shares),
``list`` (explicit ``cells: [{name, shares: {component: share}}]``).

This module checks the spec's shape (unknown keys get did-you-mean); the base
spec is parsed by :mod:`mixwise.mixing.spec`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from mixwise.errors import SpecError, did_you_mean
from mixwise.mixing.spec import NAME_RE, Spec, load_spec

DESIGNS = ("leave_one_out", "sweep", "simplex", "list")
STUDY_KEYS = ("name", "seed", "base", "vary", "replicates", "train", "eval", "objective", "description", "sources")
VARY_KEYS = {
    "leave_one_out": ("design", "components", "total"),
    "sweep": ("design", "component", "levels", "total", "param"),
    "simplex": ("design", "components", "cells", "concentration", "min", "max", "total"),
    "list": ("design", "cells", "total"),
}
TRAIN_KEYS = ("model", "recipe", "overrides", "max_steps", "checkpoint_every", "device")
EVAL_KINDS = ("mc", "judge", "ref_loglik", "answer_style")
EVAL_KEYS = {
    "mc": ("name", "kind", "tasks", "suite", "data_dir", "limit", "num_fewshot", "batch_tokens"),
    "judge": ("name", "kind", "prompts", "baseline", "judge", "base_url", "api_key_env", "limit", "max_tokens", "mode"),
    "ref_loglik": ("name", "kind", "references", "limit"),
    "answer_style": ("name", "kind", "prompts", "limit", "max_tokens"),
}
OBJECTIVE_KEYS = ("weights", "constraints", "bounds")


@dataclass(frozen=True)
class Vary:
    """The design: which components vary and how."""

    design: str
    components: tuple[str, ...] = ()  # leave_one_out / simplex (empty: all of the base's)
    component: str | None = None  # sweep
    levels: tuple[float, ...] = ()  # sweep
    param: str = "share"  # sweep: share, or cap / temperature of a per_source component
    cells: int | tuple[dict, ...] = ()  # simplex: how many; list: explicit cells
    concentration: float = 1.0
    min: dict[str, float] = field(default_factory=dict)
    max: dict[str, float] = field(default_factory=dict)
    total: int | None = None  # samples per cell; default: the base mixture's


@dataclass(frozen=True)
class EvalSpec:
    """One evaluation every trained replicate gets; ``name`` labels its results.

    ``options`` have paths resolved against the study file's folder (what runs);
    ``written`` is the entry as written (what fingerprints hash, so a study folder
    moved elsewhere keeps its finished steps).
    """

    name: str
    kind: str
    options: dict[str, Any]
    written: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, **(self.written or self.options)}


@dataclass(frozen=True)
class StudySpec:
    """A validated study spec; ``to_dict()`` is the canonical form whose hash the study record keeps."""

    name: str
    seed: int
    base_path: Path
    base: Spec
    vary: Vary
    replicates: int
    train: dict[str, Any]
    evals: tuple[EvalSpec, ...]
    objective: dict[str, Any]
    description: str = ""
    path: Path | None = None
    raw: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The spec as written (paths resolved), plus the base mixture's canonical spec."""
        out = {k: v for k, v in self.raw.items() if k not in ("description",)}
        out["base"] = {"path": str(self.base_path), "spec": self.base.to_dict()}
        return out

    def spec_hash(self) -> str:
        """Hash of what defines the study's cells and steps (not its description or paths)."""
        content = {k: v for k, v in self.to_dict().items()}
        content["base"] = {k: v for k, v in self.base.to_dict().items() if k not in ("sources", "description")}
        blob = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.blake2b(blob.encode(), digest_size=8).hexdigest()


def _fail(where: str, problem: str, fix: str) -> SpecError:
    return SpecError(f"{where}: {problem}", fix)


def _keys(where: str, data: dict, known: tuple[str, ...]) -> None:
    for k in data:
        if k not in known:
            raise _fail(where, f"unknown key {k!r}", did_you_mean(str(k), known))


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _share_map(where: str, v: Any, components: list[str]) -> dict[str, float]:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise _fail(where, f"expected {{component: share}}, got {v!r}", "e.g. min: {assistant: 0.1}")
    out = {}
    for k, x in v.items():
        if k not in components:
            raise _fail(f"{where}.{k}", f"unknown component {k!r}", did_you_mean(str(k), components))
        if not _num(x) or not 0 <= x <= 1:
            raise _fail(f"{where}.{k}", f"a share is a fraction in [0, 1], got {x!r}", "e.g. 0.25")
        out[k] = float(x)
    return out


def _names(where: str, v: Any, components: list[str]) -> tuple[str, ...]:
    if v is None:
        return tuple(components)
    items = v if isinstance(v, list) else [v]
    for x in items:
        if x not in components:
            raise _fail(where, f"unknown component {x!r}", did_you_mean(str(x), components))
    if len(set(items)) != len(items):
        raise _fail(where, f"components repeat: {items}", "list each component once")
    return tuple(items)


def parse_vary(where: str, data: Any, base: Spec) -> Vary:
    """The ``vary:`` block -> :class:`Vary`, checked against the base's components."""
    comps = [c.name for c in base.components]
    if not isinstance(data, dict) or "design" not in data:
        raise _fail(where, f"expected a mapping with a design, got {data!r}", f"e.g. vary: {{design: leave_one_out}}; designs: {', '.join(DESIGNS)}")
    design = data["design"]
    if design not in DESIGNS:
        raise _fail(f"{where}.design", f"unknown design {design!r}", did_you_mean(str(design), DESIGNS))
    _keys(where, data, VARY_KEYS[design])
    total = data.get("total")
    if total is not None and (not isinstance(total, int) or isinstance(total, bool) or total < 1):
        raise _fail(f"{where}.total", f"expected a positive whole number of samples, got {total!r}", "e.g. total: 2000")
    if design == "leave_one_out":
        names = _names(f"{where}.components", data.get("components"), comps)
        if len(comps) < 2:
            raise _fail(where, "leave_one_out needs a base with two or more components", "add components to the base mixture")
        return Vary(design, components=names, total=total)
    if design == "sweep":
        comp = data.get("component")
        if comp not in comps:
            raise _fail(f"{where}.component", f"unknown component {comp!r}", did_you_mean(str(comp), comps))
        param = data.get("param", "share")
        if param not in ("share", "cap", "temperature"):
            raise _fail(f"{where}.param", f"unknown parameter {param!r}", "sweep a component's share, or a per_source component's cap or temperature")
        levels = data.get("levels")
        if not isinstance(levels, list) or not levels or not all(_num(x) for x in levels):
            raise _fail(f"{where}.levels", f"expected a list of numbers, got {levels!r}", "e.g. levels: [0.0, 0.25, 0.5, 0.75, 1.0]")
        if param == "share" and not all(0 <= x <= 1 for x in levels):
            raise _fail(f"{where}.levels", f"shares are fractions in [0, 1], got {levels}", "e.g. levels: [0.0, 0.5, 1.0]")
        if param == "share" and len(comps) < 2 and any(x < 1 for x in levels):
            raise _fail(where, "a share sweep needs a base with two or more components", "add a component that takes the rest")
        if param != "share" and not all(x > 0 for x in levels):
            raise _fail(f"{where}.levels", f"{param} levels must be positive, got {levels}", "e.g. levels: [1000, 3000, 10000]")
        if len(set(levels)) != len(levels):
            raise _fail(f"{where}.levels", f"levels repeat: {levels}", "give each level once")
        if param != "share":
            c = next(c for c in base.components if c.name == comp)
            if getattr(c, "per_source", None) is None:
                raise _fail(f"{where}.param", f"component {comp!r} does not mix per source", f"add per_source: {{rate: examples_proportional, cap: 3000}} to it, or sweep param: share")
        return Vary(design, component=comp, levels=tuple(float(x) for x in levels), param=param, total=total)
    if design == "simplex":
        names = _names(f"{where}.components", data.get("components"), comps)
        if len(names) < 2:
            raise _fail(f"{where}.components", "a simplex design needs two or more components", "list them, or omit for all")
        n = data.get("cells")
        if not isinstance(n, int) or isinstance(n, bool) or n < 2:
            raise _fail(f"{where}.cells", f"expected the number of mixtures to draw (>= 2), got {n!r}", "e.g. cells: 12")
        conc = data.get("concentration", 1.0)
        if not _num(conc) or conc <= 0:
            raise _fail(f"{where}.concentration", f"expected a positive number, got {conc!r}", "1.0 draws uniformly over the simplex")
        lo, hi = _share_map(f"{where}.min", data.get("min"), list(names)), _share_map(f"{where}.max", data.get("max"), list(names))
        if sum(lo.values()) > 1 or sum(hi.get(c, 1.0) for c in names) < 1:
            raise _fail(where, "the min/max bounds leave no mixture whose shares sum to 1", "loosen min or max")
        return Vary(design, components=names, cells=n, concentration=float(conc), min=lo, max=hi, total=total)
    cells = data.get("cells")
    if not isinstance(cells, list) or not cells:
        raise _fail(f"{where}.cells", f"expected a list of cells, got {cells!r}", "e.g. cells: [{name: half, shares: {assistant: 0.5, instruct: 0.5}}]")
    out = []
    for i, c in enumerate(cells):
        w = f"{where}.cells[{i}]"
        if not isinstance(c, dict):
            raise _fail(w, f"expected a mapping, got {c!r}", "e.g. {name: half, shares: {assistant: 0.5, instruct: 0.5}}")
        _keys(w, c, ("name", "shares"))
        if not isinstance(c.get("name"), str) or not NAME_RE.fullmatch(c["name"]):
            raise _fail(f"{w}.name", f"expected a simple name, got {c.get('name')!r}", "letters, digits, '_', '-' or '.'")
        shares = _share_map(f"{w}.shares", c.get("shares"), comps)
        if abs(sum(shares.values()) - 1) > 1e-6:
            raise _fail(f"{w}.shares", f"shares sum to {sum(shares.values()):g}, not 1", "give every component's share; they must sum to 1")
        out.append({"name": c["name"], "shares": shares})
    names = [c["name"] for c in out]
    if len(set(names)) != len(names) or "base" in names:
        raise _fail(f"{where}.cells", f"cell names repeat or use the reserved name 'base': {names}", "give each cell its own name")
    return Vary(design, cells=tuple(out), total=total)


def parse_train(where: str, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or "model" not in data:
        raise _fail(where, f"expected a mapping with a model, got {data!r}", "e.g. train: {model: tiny-random, recipe: quick, max_steps: 20}")
    _keys(where, data, TRAIN_KEYS)
    out = {"model": str(data["model"]), "recipe": str(data.get("recipe", "lima")), "overrides": data.get("overrides") or {},
           "max_steps": data.get("max_steps"), "checkpoint_every": data.get("checkpoint_every"), "device": data.get("device")}
    if not isinstance(out["overrides"], dict):
        raise _fail(f"{where}.overrides", f"expected {{key: value}}, got {out['overrides']!r}", "e.g. overrides: {lr: 1.0e-5}")
    for k in ("max_steps", "checkpoint_every"):
        v = out[k]
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise _fail(f"{where}.{k}", f"expected a positive whole number, got {v!r}", f"e.g. {k}: 20")
    return out


def parse_evals(where: str, data: Any, base_dir: Path) -> tuple[EvalSpec, ...]:
    if not isinstance(data, list) or not data:
        raise _fail(where, "needs a non-empty list of evaluations", "e.g. eval: [{name: arc, kind: mc, tasks: [arc_easy], limit: 200}]")
    out = []
    for i, e in enumerate(data):
        w = f"{where}[{i}]"
        if not isinstance(e, dict):
            raise _fail(w, f"expected a mapping, got {e!r}", "e.g. {name: arc, kind: mc, tasks: [arc_easy]}")
        kind = e.get("kind")
        if kind not in EVAL_KINDS:
            raise _fail(f"{w}.kind", f"unknown evaluation kind {kind!r}", did_you_mean(str(kind), EVAL_KINDS))
        _keys(w, e, EVAL_KEYS[kind])
        name = e.get("name", kind)
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise _fail(f"{w}.name", f"expected a simple name, got {name!r}", "e.g. name: gauntlet")
        opts = {k: v for k, v in e.items() if k not in ("name", "kind")}
        written = dict(opts)
        if kind == "mc" and not (opts.get("tasks") or opts.get("suite")):
            raise _fail(w, "an mc evaluation needs tasks or a suite", "e.g. tasks: [arc_easy, piqa] or suite: gauntlet")
        if "limit" in opts and (not isinstance(opts["limit"], int) or isinstance(opts["limit"], bool) or opts["limit"] < 1):
            raise _fail(f"{w}.limit", f"expected a positive whole number, got {opts['limit']!r}", "e.g. limit: 200")
        if "data_dir" in opts:  # relative to the study file, like the base spec's sources
            dirs = opts["data_dir"] if isinstance(opts["data_dir"], list) else [opts["data_dir"]]
            opts["data_dir"] = [str((base_dir / Path(d).expanduser()).resolve()) for d in dirs]
        if kind == "mc" and isinstance(opts.get("tasks"), list):  # task files, like data, are relative to the study file
            opts["tasks"] = [str((base_dir / t).resolve()) if str(t).endswith((".yaml", ".yml")) else t for t in opts["tasks"]]
        out.append(EvalSpec(name, kind, opts, written))
    names = [e.name for e in out]
    if len(set(names)) != len(names):
        raise _fail(where, f"evaluation names repeat: {names}", "give each evaluation its own name")
    return tuple(out)


def parse_objective(where: str, data: Any) -> dict[str, Any]:
    """``weights`` over task names (or an eval name: all its tasks), ``constraints``, ``bounds``; checked against results at fit time."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _fail(where, f"expected a mapping, got {data!r}", "e.g. objective: {weights: {arc_easy: 1}}")
    _keys(where, data, OBJECTIVE_KEYS)
    weights = data.get("weights") or {}
    if not isinstance(weights, dict) or not all(_num(v) for v in weights.values()):
        raise _fail(f"{where}.weights", f"expected {{task: weight}}, got {weights!r}", "e.g. weights: {arc_easy: 1, judge: 1}")
    cons = data.get("constraints") or []
    if not isinstance(cons, list):
        raise _fail(f"{where}.constraints", f"expected a list, got {cons!r}", "e.g. constraints: [{task: judge, min: base}]")
    for i, c in enumerate(cons):
        if not isinstance(c, dict) or set(c) != {"task", "min"} or not (_num(c["min"]) or c["min"] == "base"):
            raise _fail(f"{where}.constraints[{i}]", f"expected {{task: NAME, min: NUMBER or base}}, got {c!r}", "e.g. {task: judge, min: base}")
    bounds = data.get("bounds") or {}
    if not isinstance(bounds, dict):
        raise _fail(f"{where}.bounds", f"expected {{component: [min, max]}}, got {bounds!r}", "e.g. bounds: {assistant: [0.2, 0.8]}")
    return {"weights": {str(k): float(v) for k, v in weights.items()}, "constraints": cons, "bounds": bounds}


def parse_study(data: Any, *, path: Path, description: str = "") -> StudySpec:
    """A loaded YAML mapping -> :class:`StudySpec` (the base mixture spec is loaded too)."""
    where = str(path)
    if not isinstance(data, dict):
        raise _fail(where, f"expected a mapping at the top, got {type(data).__name__}", "start with name:, base:, vary:")
    _keys(where, data, STUDY_KEYS)
    name = data.get("name")
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise _fail(f"{where}.name", f"expected a simple name, got {name!r}", "e.g. name: lima-share")
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise _fail(f"{where}.seed", f"seed must be an integer, got {seed!r}", "e.g. seed: 0")
    base_ref = data.get("base")
    if not isinstance(base_ref, str):
        raise _fail(f"{where}.base", f"expected the path of a mixture spec, got {base_ref!r}", "e.g. base: ../manifests/limit/lima_plus_instruct.yaml")
    base_path = (path.parent / Path(base_ref).expanduser()).resolve()
    try:
        base = load_spec(base_path)
    except SpecError as e:
        raise SpecError(f"{where}.base: {e.problem}", e.fix) from None
    sources = data.get("sources") or {}
    if not isinstance(sources, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in sources.items()):
        raise _fail(f"{where}.sources", f"expected {{name: path or hf:ORG/NAME}}, got {sources!r}",
                    "e.g. sources: {lima: ../../shared/data/instruct/lima_train.json}")
    if sources:  # where the base's sources come from, relative to the study file (like mixwise mix --source)
        resolved = {k: v if v.startswith("hf:") else str((path.parent / Path(v).expanduser()).resolve()) for k, v in sources.items()}
        base = replace(base, sources={**base.sources, **resolved})
    reps = data.get("replicates", 2)
    if not isinstance(reps, int) or isinstance(reps, bool) or reps < 1:
        raise _fail(f"{where}.replicates", f"expected a positive whole number of training seeds, got {reps!r}", "e.g. replicates: 2")
    vary = parse_vary(f"{where}.vary", data.get("vary"), base)
    train = parse_train(f"{where}.train", data.get("train"))
    evals = parse_evals(f"{where}.eval", data.get("eval"), path.parent)
    objective = parse_objective(f"{where}.objective", data.get("objective"))
    raw = dict(data)
    raw["eval"] = [e.to_dict() for e in evals]
    raw["train"] = train
    raw["replicates"] = reps
    raw["seed"] = seed
    raw["objective"] = objective
    return StudySpec(name, seed, base_path, base, vary, reps, train, evals, objective,
                     str(data.get("description") or description), path, raw)


def load_study(path: str | Path) -> StudySpec:
    """Read and validate a study file."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise SpecError(f"no study file at {p}", "check the path (studies are YAML files, e.g. studies/lima-share.yaml)")
    text = p.read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(f"{p}: invalid YAML{at}: {getattr(e, 'problem', e)}", "fix the YAML syntax") from e
    header = "\n".join(line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")).strip()
    return parse_study(data, path=p.resolve(), description=header)
