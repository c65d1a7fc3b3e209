"""LLM judges as folders: a prompt template written by us plus a small config.

Each folder ``mixwise/evaluate/judges/<name>/`` (or any folder passed by path)
holds ``config.yaml`` (id, version, kind, scale, parser, model, temperature,
max_tokens, reask, reask_prompt), ``prompt.txt`` (``str.format`` fields:
``{instruction}`` and ``{output_a}``/``{output_b}`` for pairwise judges,
``{output}`` and ``{reference_block}`` for single-answer ones) and an optional
``system.txt``. Bump ``version`` when the prompt changes: it is part of the
cache key, so old judgments are never reused for a new prompt.

Parsers turn the judge's free text into a value or ``None`` (unparsable):

* ``verdict`` -- the last ``Verdict: A|B|tie`` line (or a bare ``A``/``B``/``tie``);
* ``score`` -- the last ``Score: N`` (or ``Rating: N``, or a bare number) inside the scale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from mixwise.errors import SpecError, did_you_mean

BUILTIN = Path(__file__).parent
KINDS = ("pairwise", "single")

_VERDICT = re.compile(r"verdict\s*[:=\-]?\s*[\*\[\"'(]*\s*(?:answer\s+|assistant\s+)?(a|b|tie)\b", re.I)
_BARE_VERDICT = re.compile(r"^\W*(?:answer\s+)?(a|b|tie)\W*$", re.I)
_SCORE = re.compile(r"(?:score|rating|grade)\s*[:=\-]?\s*[\*\[\"'(]*\s*(\d+(?:\.\d+)?)", re.I)
_BARE_NUMBER = re.compile(r"^\W*(\d+(?:\.\d+)?)\W*$")


def parse_verdict(text: str) -> str | None:
    """'A', 'B' or 'tie' from a judge's answer, or None."""
    found = _VERDICT.findall(text or "")
    if not found:
        m = _BARE_VERDICT.match((text or "").strip())
        found = [m.group(1)] if m else []
    if not found:
        return None
    v = found[-1].lower()
    return "tie" if v == "tie" else v.upper()


def parse_score(text: str, lo: float, hi: float) -> float | None:
    """The last score inside [lo, hi] from a judge's answer, or None."""
    found = _SCORE.findall(text or "")
    if not found:
        m = _BARE_NUMBER.match((text or "").strip())
        found = [m.group(1)] if m else []
    for raw in reversed(found):
        value = float(raw)
        if lo <= value <= hi:
            return value
    return None


@dataclass
class Judge:
    """A judge loaded from its folder."""

    id: str
    version: int
    kind: str
    scale: list
    parser: str
    model: str
    temperature: float
    max_tokens: int
    reask: int
    reask_prompt: str
    template: str
    system: str | None
    folder: Path

    def messages(self, instruction: str, *, output: str | None = None, output_a: str | None = None,
                 output_b: str | None = None, reference: str | None = None) -> list[dict]:
        """The chat messages asking for one judgment."""
        ref = f"\n[Reference answer]\n{reference}\n" if reference else ""
        fields = {"instruction": instruction, "output": output, "output_a": output_a, "output_b": output_b,
                  "reference": reference or "", "reference_block": ref}
        prompt = self.template.format_map(fields)
        return ([{"role": "system", "content": self.system}] if self.system else []) + [{"role": "user", "content": prompt}]

    def parse(self, text: str):
        """The judgment's value ('A'/'B'/'tie' or a number), or None when unparsable."""
        if self.parser == "verdict":
            return parse_verdict(text)
        return parse_score(text, float(self.scale[0]), float(self.scale[-1]))

    def describe(self) -> str:
        return f"{self.id} v{self.version} ({self.kind}, scale {self.scale[0]}..{self.scale[-1]}, parser {self.parser})"


def builtin_names() -> list[str]:
    return sorted(p.name for p in BUILTIN.iterdir() if (p / "config.yaml").is_file())


def load_judge(name_or_path: str) -> Judge:
    """A built-in judge by name (pairwise, likert, single) or a judge folder by path."""
    folder = Path(name_or_path).expanduser()
    if not (folder / "config.yaml").is_file():
        folder = BUILTIN / name_or_path
    if not (folder / "config.yaml").is_file():
        raise SpecError(f"unknown judge {name_or_path!r}", did_you_mean(name_or_path, builtin_names()) + ", or a folder with config.yaml")
    cfg = yaml.safe_load((folder / "config.yaml").read_text()) or {}
    missing = [k for k in ("id", "version", "kind", "scale", "parser") if k not in cfg]
    if missing or cfg.get("kind") not in KINDS or cfg.get("parser") not in ("verdict", "score"):
        raise SpecError(f"judge config {folder / 'config.yaml'} is invalid (missing {missing or 'nothing'}, kind {cfg.get('kind')!r}, "
                        f"parser {cfg.get('parser')!r})", "give id, version, kind (pairwise|single), scale, parser (verdict|score)")
    if not (folder / "prompt.txt").is_file():
        raise SpecError(f"judge folder {folder} has no prompt.txt", "write the prompt template there")
    system = folder / "system.txt"
    return Judge(
        id=str(cfg["id"]), version=int(cfg["version"]), kind=cfg["kind"], scale=list(cfg["scale"]), parser=cfg["parser"],
        model=str(cfg.get("model", "gpt-4o-mini")), temperature=float(cfg.get("temperature", 0.0)),
        max_tokens=int(cfg.get("max_tokens", 400)), reask=int(cfg.get("reask", 2)),
        reask_prompt=str(cfg.get("reask_prompt", "Reply with your final answer only.")),
        template=(folder / "prompt.txt").read_text(), system=system.read_text().strip() if system.is_file() else None,
        folder=folder,
    )
