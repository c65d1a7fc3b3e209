"""Prompt sets for generation and LLM-as-a-judge: LIMA test, AlpacaEval, MT-Bench, or any JSONL.

A prompt set is a list of :class:`Prompt` (id, prompt text, category, optional
reference answer). Named sets are read from a local data folder laid out like
``../shared/data/judge`` (the default, relative to the working directory;
``--data-dir`` or ``$MIXWISE_JUDGE_DATA`` moves it) and fall back to the
Hugging Face Hub when the files are missing::

    lima_test.jsonl                          {"conversations": "<prompt>"}
    alpaca_eval/text_davinci_003_outputs.json [{"dataset", "instruction", "output", ...}]
    mt_bench/question.jsonl                  {"question_id", "category", "turns"}
    mt_bench/reference_answer_gpt4.jsonl     {"question_id", "choices": [{"turns"}]}

MT-Bench contributes its first turns only. Any other ``*.jsonl``/``*.json``
file works too: the prompt comes from ``prompt``, ``instruction``,
``question``, ``conversations`` or ``turns[0]``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from mixwise.errors import InputError, did_you_mean

DATA_ENV = "MIXWISE_JUDGE_DATA"
DEFAULT_DATA_DIR = Path("..") / "shared" / "data" / "judge"

#: name -> (local file inside the data dir, hub dataset id, hub config, hub split)
SETS: dict[str, tuple[str, str, str | None, str]] = {
    "lima_test": ("lima_test.jsonl", "GAIR/lima", None, "test"),
    "alpaca_eval": ("alpaca_eval/text_davinci_003_outputs.json", "tatsu-lab/alpaca_eval", "alpaca_eval", "eval"),
    "mt_bench": ("mt_bench/question.jsonl", "HuggingFaceH4/mt_bench_prompts", None, "train"),
}
PROMPT_KEYS = ("prompt", "instruction", "question", "conversations", "turns")


@dataclass
class Prompt:
    """One evaluation prompt; ``reference`` is a reference answer when the set has one."""

    id: str
    prompt: str
    category: str = "all"
    reference: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The judge data folder: ``explicit``, then ``$MIXWISE_JUDGE_DATA``, then ``../shared/data/judge``."""
    return Path(explicit or os.environ.get(DATA_ENV) or DEFAULT_DATA_DIR).expanduser()


def _first_text(value) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value:
        return _first_text(value[0])
    if isinstance(value, dict):
        return value.get("content") or value.get("value")
    return None


def _read_records(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
        return data if isinstance(data, list) else data.get("data", [])
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{n} is not valid JSON ({e.msg})", "fix or remove that line") from e
    return out


def from_records(records: list[dict], set_name: str) -> list[Prompt]:
    """Prompts from generic records (first turn of multi-turn ones); ids default to ``<set>-<index>``."""
    prompts = []
    for i, r in enumerate(records):
        text = next((_first_text(r[k]) for k in PROMPT_KEYS if k in r and _first_text(r[k])), None)
        if not text:
            raise InputError(f"record {i} of {set_name} has no prompt field", f"give each record one of: {', '.join(PROMPT_KEYS)}")
        if r.get("input"):
            text = f"{text}\n\n{r['input']}"
        rid = r.get("id", r.get("question_id", f"{set_name}-{i:04d}"))
        category = r.get("category") or r.get("dataset") or "all"
        ref = r.get("reference")
        prompts.append(Prompt(str(rid), text, str(category), _first_text(ref) if ref else None))
    return prompts


def _mt_bench_references(folder: Path) -> dict[str, str]:
    path = folder / "reference_answer_gpt4.jsonl"
    if not path.is_file():
        return {}
    refs = {}
    for r in _read_records(path):
        turns = (r.get("choices") or [{}])[0].get("turns") or []
        if turns:
            refs[str(r["question_id"])] = turns[0]
    return refs


def _from_hub(name: str) -> list[dict]:
    _, hub_id, config, split = SETS[name]
    try:
        from datasets import load_dataset

        ds = load_dataset(hub_id, config, split=split)
    except Exception as e:  # noqa: BLE001 - offline, gated, renamed: all one fix
        raise InputError(
            f"prompt set {name!r}: no local file and the Hub copy ({hub_id}) could not be loaded ({type(e).__name__})",
            "pass --data-dir pointing at a folder laid out like ../shared/data/judge, or a JSONL file",
        ) from e
    return [dict(r) for r in ds]


def load_prompts(spec: str, *, data: str | os.PathLike | None = None, limit: int | None = None) -> list[Prompt]:
    """The prompts of a named set or a JSON/JSONL file, optionally only the first ``limit``."""
    path = Path(spec).expanduser()
    if spec not in SETS:
        if not path.is_file():
            if path.suffix in (".json", ".jsonl") or "/" in spec:
                raise InputError(f"no such prompt file: {spec}", "check the path")
            raise InputError(f"unknown prompt set {spec!r}", did_you_mean(spec, SETS) + ", or a .jsonl file")
        prompts = from_records(_read_records(path), path.stem)
    else:
        local = data_dir(data) / SETS[spec][0]
        records = _read_records(local) if local.is_file() else _from_hub(spec)
        if spec == "mt_bench":
            refs = _mt_bench_references(local.parent)
            for r in records:
                r.setdefault("reference", refs.get(str(r.get("question_id"))))
                r["turns"] = r.get("turns") or r.get("prompt")
        if spec == "lima_test":
            records = [{"id": f"lima_test-{i:03d}", "category": "lima", **r} for i, r in enumerate(records)]
        if spec == "alpaca_eval":
            records = [{"id": f"alpaca_eval-{i:03d}", "instruction": r["instruction"], "dataset": r.get("dataset")}
                       for i, r in enumerate(records)]
        prompts = from_records(records, spec)
    return prompts[:limit] if limit else prompts
