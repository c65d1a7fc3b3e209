"""Labelled reference samples for training the style classifier, built from public data.

Each reference *source* stands for one style (two for sources that contain code):

===================  ===================================================  ==================
source               file under ``<data>/``                               label
===================  ===================================================  ==================
lima                 instruct/lima_train.json                             long_form / code
alpaca_eval_gpt4     judge/alpaca_eval/gpt4_1106_preview_outputs.json     long_form / code
dolly_hhrlhf         instruct/dolly_hhrlhf_small.jsonl                    concise / code
alpaca               instruct/alpaca_5000.json                            concise / code
mmlu                 mc/mmlu/{dev,val}/*.csv, rendered                    multiple_choice
gauntlet_mc          mc/gauntlet multiple-choice tasks, rendered          multiple_choice
gsm8k                instruct/gsm8k_train.jsonl                           math_steps
svamp                mc/gauntlet/symbolic_problem_solving/svamp.jsonl     math_steps
===================  ===================================================  ==================

The code rule is transparent: a response whose :func:`code_fraction` is at
least ``CODE_THRESHOLD`` (most of its non-blank lines are code) is ``code``,
whatever its source. Multiple-choice items are rendered as prompt/answer pairs
in several formats (option lines or inline options; a letter, a letter with the
option text, or "The answer is X") chosen by a hash, so the classifier does not
learn one template. GSM8K's calculator annotations (``<<2*3=6>>``) are removed
from half of its rows, since most worked solutions in the wild lack them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from mixwise.curate.style_features import code_fraction

STYLES: tuple[str, ...] = ("long_form", "concise", "multiple_choice", "math_steps", "code")
CODE_THRESHOLD = 0.4
#: The word count separating concise from long-form references (the same ~120 words as the hand-label rubric).
LONG_WORDS = 120
GAUNTLET_MC = (
    "world_knowledge/arc_easy",
    "world_knowledge/arc_challenge",
    "commonsense_reasoning/openbook_qa",
    "commonsense_reasoning/copa",
    "commonsense_reasoning/piqa",
    "language_understanding/bigbench_conceptual_combinations",
    "reading_comprehension/bigbench_understanding_fables",
)
#: source -> (relative path, the label of its non-code rows)
INSTRUCT_SOURCES = {
    "lima": ("instruct/lima_train.json", "long_form"),
    "alpaca_eval_gpt4": ("judge/alpaca_eval/gpt4_1106_preview_outputs.json", "long_form"),
    "dolly_hhrlhf": ("instruct/dolly_hhrlhf_small.jsonl", "concise"),
    "alpaca": ("instruct/alpaca_5000.json", "concise"),
    "gsm8k": ("instruct/gsm8k_train.jsonl", "math_steps"),
}
REFERENCE_SOURCES = ("lima", "alpaca_eval_gpt4", "dolly_hhrlhf", "alpaca", "mmlu", "gauntlet_mc", "gsm8k", "svamp")


@dataclass(frozen=True)
class Ref:
    """One labelled reference: where it comes from, its text, and its style."""

    source: str
    source_id: str
    prompt: str
    response: str
    label: str


def _h(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big")


def label_with_code_rule(response: str, default: str) -> str:
    """``code`` when most of the response is code, else the source's label."""
    return "code" if code_fraction(response) >= CODE_THRESHOLD else default


def _instruct(data: Path, source: str) -> list[Ref]:
    from mixwise.curate.formats import Reject, detect_format, record_id
    rel, label = INSTRUCT_SOURCES[source]
    path = data / rel
    text = path.read_text()
    records = [json.loads(line) for line in text.splitlines() if line.strip()] if path.suffix == ".jsonl" else json.loads(text)
    fmt = detect_format(records[:50], str(path))
    out = []
    for i, rec in enumerate(records):
        try:
            conv = fmt.convert(rec)
        except Reject:
            continue
        msgs = conv.messages
        prompt, response = msgs[-2][1], msgs[-1][1]
        if source == "gsm8k" and _h(prompt) % 2:
            response = re.sub(r"<<[^>]*>>", "", response)
        sid = record_id(rec) or str(i)
        out.append(Ref(source, sid, prompt, response, label_with_code_rule(response, label)))
    return out


_LETTERS = "ABCDE"


def render_mc(question: str, choices: list[str], gold: int, key: str) -> tuple[str, str]:
    """A multiple-choice item as a prompt with options and an answer, in a format picked by ``key``."""
    h = _h(key)
    letters = _LETTERS[: len(choices)]
    if h % 4 == 3:
        opts = " ".join(f"({l}) {c}" for l, c in zip(letters, choices))
        prompt = f"{question}\n{opts}"
    else:
        sep = (". ", ") ", ": ")[h % 3]
        prompt = question + "\n" + "\n".join(f"{l}{sep}{c}" for l, c in zip(letters, choices))
    if (h >> 3) % 2:
        prompt += "\nAnswer:"
    letter, text = letters[gold], choices[gold]
    response = (letter, f"{letter}. {text}", f"The answer is {letter}.", f"({letter}) {text}")[(h >> 5) % 4]
    return prompt, response


def _mmlu(data: Path) -> list[Ref]:
    out = []
    for split in ("dev", "val"):
        for f in sorted((data / "mc" / "mmlu" / split).glob("*.csv")):
            with f.open(newline="") as fh:
                for i, row in enumerate(csv.reader(fh)):
                    if len(row) != 6 or row[5] not in "ABCD":
                        continue
                    subject = f.stem.rsplit("_", 1)[0].replace("_", " ")
                    q = f"The following is a question about {subject}.\n{row[0]}" if _h(row[0]) % 2 else row[0]
                    p, r = render_mc(q, row[1:5], "ABCD".index(row[5]), row[0])
                    out.append(Ref("mmlu", f"{f.stem}:{i}", p, r, "multiple_choice"))
    return out


def _gauntlet(data: Path) -> list[Ref]:
    out = []
    for task in GAUNTLET_MC:
        for i, line in enumerate((data / "mc" / "gauntlet" / f"{task}.jsonl").read_text().splitlines()):
            rec = json.loads(line)
            q = rec["query"].strip()
            for prefix in ("Question:", "Q:"):
                q = q.removeprefix(prefix).strip()
            q = q.removesuffix("A:").removesuffix("Answer:").strip()
            p, r = render_mc(q, [c.strip() for c in rec["choices"]], int(rec["gold"]), q + task)
            out.append(Ref("gauntlet_mc", f"{task.split('/')[1]}:{i}", p, r, "multiple_choice"))
    return out


def _svamp(data: Path) -> list[Ref]:
    out = []
    path = data / "mc" / "gauntlet" / "symbolic_problem_solving" / "svamp.jsonl"
    for i, line in enumerate(path.read_text().splitlines()):
        rec = json.loads(line)
        ans = str(rec["answer"]).strip()
        resp = f"{rec['chain_of_thought'].strip()} = {ans}\nThe answer is {ans}."
        out.append(Ref("svamp", str(i), rec["context"].strip(), resp, "math_steps"))
    return out


def load_source(data: Path, source: str) -> list[Ref]:
    """All references of one source (uncapped)."""
    if source in INSTRUCT_SOURCES:
        return _instruct(data, source)
    return {"mmlu": _mmlu, "gauntlet_mc": _gauntlet, "svamp": _svamp}[source](data)


def is_prototype(ref: Ref) -> bool:
    """False for a source-labelled row that contradicts its label's definition by length.

    A "long_form" reference of at most LONG_WORDS words (LIMA has one-line answers) or a
    "concise" one of more (Dolly has multi-paragraph essays) is not a clean example of its
    style, so it is left out of training rather than relabelled.
    """
    words = len(ref.response.split())
    if ref.label == "long_form":
        return words > LONG_WORDS
    if ref.label == "concise":
        return words <= LONG_WORDS
    return True


def build_references(data: Path, per_source: int = 600, seed: int = 0, sources: tuple[str, ...] = REFERENCE_SOURCES,
                     prototypes: bool = True) -> list[Ref]:
    """References from every source, seeded: at most ``per_source`` non-code rows and ``per_source`` code rows each.

    With ``prototypes`` (the default) rows failing :func:`is_prototype` are dropped before sampling.
    """
    rng = random.Random(seed)
    out: list[Ref] = []
    for source in sources:
        refs = load_source(Path(data), source)
        if prototypes:
            refs = [r for r in refs if is_prototype(r)]
        code = [r for r in refs if r.label == "code"]
        rest = [r for r in refs if r.label != "code"]
        if len(rest) > per_source:
            rest = rng.sample(rest, per_source)
        if len(code) > per_source:  # code is rare: all of it is kept unless even that exceeds the cap
            code = rng.sample(code, per_source)
        out += sorted(code + rest, key=lambda r: r.source_id)
    return out
