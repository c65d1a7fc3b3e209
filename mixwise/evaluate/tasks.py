"""Declarative evaluation tasks: YAML files -> :class:`Task` objects -> requests.

A task file (shipped in ``mixwise/evaluate/tasks/`` or any path) names its data,
its prompt and its metric; variants reuse a base file with ``include:``, and
``version`` is bumped on any behaviour change so stored results stay comparable.
The four shapes of the Eval Gauntlet plus MMLU are ``type`` values:

* ``multiple_choice`` -- ``text`` + ``choices`` + ``gold``: score each choice.
* ``schema`` -- ``context_options`` + ``target`` + ``gold``: score the same
  continuation under each context option (winogrande).
* ``language_modeling`` -- ``text`` + ``target``: greedy exact continuation.
* ``generation`` -- ``text`` + ``answers``: greedy decoding with stop sequences,
  normalized exact match against any alias (``cot_delimiter`` for chain of thought).

Field values are either a record field name (``choices``), a YAML literal (a
list of choices) or a Jinja template (``"{{ question.strip() }}"``).
Data comes from ``dataset.local`` under a data dir (llm-foundry's layout:
``<category>/<task>.jsonl``; ``mmlu/{dev,val}/...``) or ``dataset.hf`` (a Hub id).

Example: ``load_task("arc_easy").requests(data_dir)`` -- see docs/evaluate.md.
"""

from __future__ import annotations

import csv
import functools
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from mixwise.errors import InputError, SpecError, did_you_mean

TASKS_DIR = Path(__file__).parent / "tasks"
TYPES = ("multiple_choice", "schema", "language_modeling", "generation")
SUITES = ("gauntlet", "mmlu")
DATA_ENV = "MIXWISE_EVAL_DATA"
DataDirs = "str | Path | list[str | Path] | None"  # one data dir or several, searched in order


@dataclass
class Item:
    """One scored example: the requests to run and what the answer is."""

    idx: int
    prompt: str  # the full prompt of the gold (or only) request, for the record
    requests: list[tuple[str, str]] = field(default_factory=list)  # (context, continuation) pairs
    choices: list[str] = field(default_factory=list)  # strings whose lengths normalize acc_norm
    gold: int = 0
    answers: list[str] = field(default_factory=list)  # generation: acceptable answers


@dataclass
class Task:
    """A resolved task file (after ``include:``)."""

    name: str
    type: str
    version: int
    spec: dict[str, Any]
    source: str

    @property
    def category(self) -> str | None:
        return self.spec.get("category")

    @property
    def random_baseline(self) -> float:
        return float(self.spec.get("random_baseline", 0.0))

    @property
    def metric(self) -> str:
        return self.spec.get("metric", "acc")

    @property
    def group(self) -> str | None:
        return self.spec.get("group")

    @property
    def tags(self) -> list[str]:
        return list(self.spec.get("tags", []))

    # -- data ---------------------------------------------------------------
    def docs(self, data_dir: DataDirs = None, *, split: str = "test") -> list[dict]:
        """The task's records (``split='fewshot'`` for the few-shot pool when it is separate)."""
        ds = self.spec.get("dataset", {})
        key = "local" if split == "test" else "fewshot_local"
        rel, path = self._find(key, data_dir)
        if path is not None:
            return _postprocess(_read_local(path, ds.get("columns")), ds.get("process"))
        hf = ds.get("hf")
        if hf:
            hf_split = hf.get("split", "test") if split == "test" else hf.get("fewshot_split", "train")
            name = _render(hf["name"], self.spec.get("vars", {})) if hf.get("name") else None
            return _postprocess(_read_hub(hf["path"], name, hf_split), hf.get("process"))  # Hub rows have their own shape
        if rel is None:
            raise SpecError(f"task {self.name!r} has no dataset.{key} or dataset.hf", f"add one to {self.source}")
        where = data_dir or os.environ.get(DATA_ENV)
        raise InputError(
            f"task {self.name!r}: data file {rel} not found" + (f" under {where}" if where else ""),
            f"pass --data-dir DIR holding llm-foundry's layout ({rel}) or set {DATA_ENV}",
        )

    def has_data(self, data_dir: DataDirs) -> bool:
        """Whether :meth:`docs` can find a local file (a Hub-only task counts as available)."""
        ds = self.spec.get("dataset", {})
        if ds.get("local") is None:
            return bool(ds.get("hf"))
        return self._find("local", data_dir)[1] is not None

    def _find(self, key: str, data_dir: DataDirs) -> tuple[str | None, Path | None]:
        """``dataset.<key>`` (a relative path or a list of candidates) -> (first name, the file found)."""
        rels = self.spec.get("dataset", {}).get(key)
        if rels is None:
            return None, None
        rels = [_render(r, self.spec.get("vars", {})) for r in (rels if isinstance(rels, list) else [rels])]
        for rel in rels:
            if (path := _locate(rel, data_dir)) is not None:
                return rel, path
        return rels[0], None

    # -- prompts ------------------------------------------------------------
    def items(self, data_dir: DataDirs = None, *, limit: int | None = None) -> list[Item]:
        """Build every item's requests, with few-shot examples chosen deterministically."""
        docs = self.docs(data_dir)
        n_shot = int(self.spec.get("num_fewshot", 0))
        separate = "fewshot_local" in self.spec.get("dataset", {})
        pool = self.docs(data_dir, split="fewshot") if n_shot and separate else docs
        seed = int(self.spec.get("fewshot_seed", 1234))
        desc = _render(self.spec.get("description", ""), self.spec.get("vars", {}))
        fs_delim = self.spec.get("fewshot_delimiter", "\n\n")
        count = len(docs) if limit is None else min(limit, len(docs))
        out = []
        for i in range(count):
            shots = self._fewshot(pool, n_shot, seed, i, exclude=None if separate else i)
            prefix = desc + "".join(self._example(d) + fs_delim for d in shots)
            out.append(self._item(i, docs[i], prefix))
        return out

    def _fewshot(self, pool: list[dict], n: int, seed: int, i: int, exclude: int | None) -> list[dict]:
        if n == 0:
            return []
        if self.spec.get("fewshot_sampler", "random") == "first_n":
            return pool[:n]
        rng = random.Random(f"{seed}:{i}")  # per-item seed: an item's shots do not depend on --limit
        idx = [j for j in range(len(pool)) if j != exclude]
        return [pool[j] for j in rng.sample(idx, min(n, len(idx)))]

    def _example(self, doc: dict) -> str:
        """A solved few-shot example: prompt + delimiter + answer."""
        delim = self.delimiter
        if self.type == "multiple_choice":
            return self.text(doc) + delim + self.choices(doc)[self.gold(doc)]
        if self.type == "schema":
            return self.context_options(doc)[self.gold(doc)] + delim + self.target(doc)
        if self.type == "generation" and self.spec.get("cot_delimiter"):
            return self.text(doc) + delim + self.target(doc) + self.spec["cot_delimiter"] + self.answers(doc)[0]
        return self.text(doc) + delim + self.target(doc)

    def _item(self, i: int, doc: dict, prefix: str) -> Item:
        delim = self.delimiter
        if self.type == "multiple_choice":
            ctx, choices, gold = prefix + self.text(doc), self.choices(doc), self.gold(doc)
            return Item(i, ctx, [(ctx, delim + c) for c in choices], choices, gold)
        if self.type == "schema":
            opts, gold, cont = self.context_options(doc), self.gold(doc), self.target(doc)
            # lm-evaluation-harness normalizes schema acc_norm by the option lengths; so do we
            return Item(i, prefix + opts[gold], [(prefix + o, delim + cont) for o in opts], opts, gold)
        if self.type == "language_modeling":
            ctx = prefix + self.text(doc)
            return Item(i, ctx, [(ctx, delim + self.target(doc))], [self.target(doc)], 0)
        prompt = (prefix + self.text(doc) + delim).rstrip()
        return Item(i, prompt, [], [], 0, self.answers(doc))

    @property
    def delimiter(self) -> str:
        return self.spec.get("delimiter", " ")

    def text(self, doc: dict) -> str:
        return str(self._value("text", doc))

    def target(self, doc: dict) -> str:
        return str(self._value("target", doc))

    def choices(self, doc: dict) -> list[str]:
        return [str(c) for c in self._value("choices", doc)]

    def context_options(self, doc: dict) -> list[str]:
        return [str(c) for c in self._value("context_options", doc)]

    def gold(self, doc: dict) -> int:
        return int(self._value("gold", doc))

    def answers(self, doc: dict) -> list[str]:
        v = self._value("answers", doc)
        return [str(a) for a in (v if isinstance(v, list) else [v])]

    def _value(self, key: str, doc: dict) -> Any:
        if key not in self.spec:
            raise SpecError(f"task {self.name!r} ({self.type}) needs a {key!r} field", f"add {key}: to {self.source}")
        return _resolve(self.spec[key], doc, self.spec.get("vars", {}))


# -- value resolution ---------------------------------------------------------
@functools.lru_cache(maxsize=512)
def _template(src: str):
    import jinja2

    return jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined).from_string(src)


def _render(src: str, ctx: dict) -> str:
    return _template(src).render(**ctx) if "{{" in src or "{%" in src else src


def _resolve(spec: Any, doc: dict, vars_: dict) -> Any:
    """A field name -> the record's value; a template -> rendered text; anything else as is."""
    if isinstance(spec, str):
        if "{{" in spec or "{%" in spec:
            return _render(spec, {**vars_, **doc})
        if spec in doc:
            return doc[spec]
        raise InputError(f"record has no field {spec!r}", did_you_mean(spec, doc.keys()))
    return spec


# -- loading ------------------------------------------------------------------
def _locate(rel: str, data_dir: DataDirs) -> Path | None:
    """The first ``<dir>/<rel>`` that exists, over the given dirs then ``$MIXWISE_EVAL_DATA``."""
    dirs = list(data_dir) if isinstance(data_dir, (list, tuple)) else [data_dir]
    for base in dirs + [os.environ.get(DATA_ENV)]:
        if base and (Path(base).expanduser() / rel).is_file():
            return Path(base).expanduser() / rel
    p = Path(rel).expanduser()
    return p if p.is_absolute() and p.is_file() else None


def _read_local(path: Path, columns: list[str] | None) -> list[dict]:
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        if columns is None:
            header, rows = rows[0], rows[1:]
        else:
            header = columns
        return [dict(zip(header, r)) for r in rows]
    if path.suffix == ".json":
        data = orjson.loads(path.read_bytes())
        return data if isinstance(data, list) else data["data"]
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _read_hub(path: str, name: str | None, split: str) -> list[dict]:
    import datasets

    try:
        return list(datasets.load_dataset(path, name, split=split))
    except Exception as e:  # noqa: BLE001 - network/hub errors become one actionable line
        raise InputError(f"cannot load {path}{':' + name if name else ''}@{split} from the Hub: {e}",
                         "pass --data-dir with local files in llm-foundry's layout") from e


def _postprocess(docs: list[dict], process: str | None) -> list[dict]:
    """Named record transforms, for sources whose shape differs from the task's template."""
    if process is None:
        return docs
    if process == "mmlu_letters":  # CSV rows (question, A-D, letter) -> the Hub's (question, choices, answer int)
        return [{"question": d["question"], "choices": [d["A"], d["B"], d["C"], d["D"]],
                 "answer": "ABCD".index(d["answer"].strip())} for d in docs]
    raise SpecError(f"unknown dataset.process {process!r}", did_you_mean(process, ["mmlu_letters"]))


# -- registry -------------------------------------------------------------------
def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    if path in seen:
        raise SpecError(f"include cycle through {path}", "remove the circular include:")
    try:
        spec = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise SpecError(f"invalid YAML in {path}: {e}", "fix the task file") from e
    base = spec.pop("include", None)
    if base is None:
        return spec
    parent = _read_yaml((path.parent / base).resolve(), seen + (path,))
    merged = {**parent, **spec}
    for key in ("dataset", "vars"):  # nested maps merge one level deep
        if isinstance(parent.get(key), dict) and isinstance(spec.get(key), dict):
            merged[key] = {**parent[key], **spec[key]}
    return merged


@functools.lru_cache(maxsize=1)
def registry() -> dict[str, Path]:
    """Every shipped task name -> its YAML file (files starting with ``_`` are bases)."""
    out = {}
    for p in sorted(TASKS_DIR.rglob("*.yaml")):
        if not p.name.startswith("_"):
            out[yaml.safe_load(p.read_text())["task"]] = p
    return out


def load_task(name_or_path: str) -> Task:
    """A shipped task by name, or a task file by path; unknown names get a did-you-mean."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        path = p.resolve()
    elif name_or_path in registry():
        path = registry()[name_or_path]
    else:
        raise SpecError(f"unknown task {name_or_path!r}", did_you_mean(name_or_path, list(registry()) + list(SUITES)))
    spec = _read_yaml(path)
    for key in ("task", "type", "version"):
        if key not in spec:
            raise SpecError(f"task file {path} has no {key!r}", f"add {key}: to it")
    if spec["type"] not in TYPES:
        raise SpecError(f"task {spec['task']!r}: unknown type {spec['type']!r}", did_you_mean(spec["type"], TYPES))
    return Task(spec["task"], spec["type"], int(spec["version"]), spec, str(path))


def suite(name: str) -> list[str]:
    """Task names in a suite: ``gauntlet`` (tagged tasks) or ``mmlu`` (the 57 subjects)."""
    if name not in SUITES:
        raise SpecError(f"unknown suite {name!r}", did_you_mean(name, SUITES))
    return [t for t in registry() if name in load_task(t).tags]


def resolve_tasks(tasks: list[str] | None = None, suite_name: str | None = None) -> list[Task]:
    """Task objects for ``--tasks a,b`` (names, files or suite names) or ``--suite``."""
    names: list[str] = []
    for t in tasks or []:
        names.extend(suite(t) if t in SUITES else [t])
    if suite_name:
        names.extend(suite(suite_name))
    if not names:
        raise SpecError("no tasks selected", "pass --tasks NAME[,NAME] or --suite gauntlet|mmlu")
    return [load_task(n) for n in dict.fromkeys(names)]


def with_fewshot(task: Task, num_fewshot: int) -> Task:
    """The task with another number of few-shot examples (lm-evaluation-harness's ``--num_fewshot``).

    The name is kept (results stay comparable by name); the result record keeps
    the task's spec, so the shot count used is on file.
    """
    if not isinstance(num_fewshot, int) or isinstance(num_fewshot, bool) or num_fewshot < 0:
        raise SpecError(f"num_fewshot must be a whole number >= 0, got {num_fewshot!r}", "e.g. --num-fewshot 0")
    return Task(task.name, task.type, task.version, {**task.spec, "num_fewshot": num_fewshot}, task.source)


def runnable_tasks(tasks: list[str] | None, suite_name: str | None, data_dir: DataDirs,
                   *, num_fewshot: int | None = None) -> tuple[list[Task], list[str]]:
    """(tasks to run, names skipped for lack of local data) for a selection of tasks and/or a suite.

    A task named explicitly must run (and fails loudly without its data); a
    suite's tasks without local data are skipped. Raises when nothing can run.
    """
    selected = resolve_tasks(tasks, suite_name)
    explicit = {load_task(t).name for t in tasks or [] if t not in SUITES}
    runnable = [t for t in selected if t.name in explicit or t.has_data(data_dir)]
    skipped = [t.name for t in selected if t not in runnable]
    if not runnable:
        raise InputError(f"no data found for any of the {len(selected)} selected tasks",
                         "pass --data-dir DIR in llm-foundry's layout (<category>/<task>.jsonl, mmlu/{dev,val}/)")
    if num_fewshot is not None:
        runnable = [with_fewshot(t, num_fewshot) for t in runnable]
    return runnable, skipped
