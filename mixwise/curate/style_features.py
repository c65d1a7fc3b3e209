"""Interpretable style features of a (prompt, response) pair.

Style is about *format and register*, not topic, so every feature here measures
shape: lengths, paragraphs, markdown structure, lists, code, answer-option
patterns, numeric final answers, assistant phrasing. Each feature is a float
with a name (``FEATURE_NAMES``); :func:`feature_matrix` stacks them for many
rows. Pure functions, no I/O.

Run it: ``python -c "from mixwise.curate.style_features import features; print(features('Q?', 'A.'))"``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

# -- patterns -------------------------------------------------------------------------------
_FENCE = re.compile(r"```.*?(?:```|\Z)", re.S)
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,2}[.)])\s+\S")
_NUMBERED = re.compile(r"^\s*\d{1,2}[.)]\s+\S")
_HEADING = re.compile(r"^\s*(?:#{1,6}\s+\S|\*\*[^*\n]{2,80}\*\*:?\s*$|[A-Z][^.!?\n]{2,60}:\s*$)")
_BOLD = re.compile(r"\*\*[^*\n]+\*\*")
# An answer-option line: "A. text", "(b) text", "C) text", "D: text".
_OPTION_LINE = re.compile(r"^\s*\(?([A-Ea-e])[).:]\s+\S")
_INLINE_OPTIONS = re.compile(r"\(([A-Ea-e])\)\s*\S[^()]{0,200}?\(([A-Ea-e])\)\s*\S")
# A lettered option inside a line: "(A) text", "(b) text" after a space, colon or line start (option text may hold parentheses).
_INLINE_LETTER = re.compile(r"(?:^|[\s:;,])\(([A-Ea-e])\)\s*\S", re.M)
_WHICH = re.compile(r"\b(which of the following|choose the (?:best|correct)|select the (?:best|correct)|correct answer|true or false)\b", re.I)
# A response that answers with an option letter: "B", "(c)", "D. text", or "... the answer is (A) ..." near its start.
_LETTER_START = re.compile(r"^\s*(?:\(([A-Ea-e])\)|([A-E])(?:[.):,]|\s*$))")
_LETTER_SAID = re.compile(r"\b(?i:answer|option|choice)\s*(?i:is|:)\s*\(?([A-E])\b\)?")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_EQUATION = re.compile(r"\d\s*[-+*/×÷x^]\s*\(?\d[\d.,]*\)?\s*=\s*\$?-?\d|<<[^>]*>>|=\s*\$?-?\d[\d,.]*\s*$")
_FINAL_NUMBER = re.compile(
    r"(?:####\s*-?\$?[\d,.]+\s*$|\\boxed\{|\b(?:the\s+)?(?:final\s+)?answer\s+is\s*:?\s*\$?-?[\d,.]+|=\s*\$?-?[\d,.]+\s*\.?\s*$)", re.I
)
_STEP_WORDS = re.compile(r"\b(?:first|then|next|so|therefore|thus|hence|in total|altogether|step \d|finally)\b", re.I)
_ASSISTANT = re.compile(
    r"\b(?:i'm|i am|i'd|i would|i recommend|i hope|as an ai|sure[,!]|certainly|of course|here(?:'s| is| are)|"
    r"let me|you can|you may|you might|you should|feel free|hope this helps|happy to help|great question)\b",
    re.I,
)
_CODE_PROMPT = re.compile(
    r"\b(?:python|javascript|java|c\+\+|c#|sql|html|css|code|function|script|program|algorithm|regex|api|bash|class|compile|debug)\b", re.I
)
_CODE_LINE = re.compile(
    r"""^\s*(?:def |class |import |from \S+ import |return\b|for \(?|while \(?|if \(|elif |else:|try:|except\b|\#include|
        public |private |static |var |let |const |function\b|console\.|System\.|print\(|printf\(|std::|SELECT\b|INSERT\b|UPDATE\b|
        CREATE\b|FROM\b|WHERE\b|<\/?[a-zA-Z][^>]*>|[{}\])]+;?\s*$|\$\s|sudo |pip |npm |git |//|/\*|\*/)
        |[;{]\s*$
        # an assignment whose right side is a string, a container, a call or a literal (not arithmetic: `x = 3 * 4`)
        |^\s*[A-Za-z_][\w.\[\]]*\s*(?:=|\+=|-=)\s*(?:["'\[{]|[A-Za-z_][\w.]*[.(]|new\s|True|False|None|null)
        |[A-Za-z_]\w+\([^()]*\)\s*;?\s*$""",
    re.X,
)
_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")

FEATURE_NAMES: tuple[str, ...] = (
    "resp_log_chars",
    "resp_log_words",
    "resp_log_paragraphs",
    "resp_log_lines",
    "resp_bullet_frac",
    "resp_log_numbered",
    "resp_log_headings",
    "resp_log_bold",
    "resp_code_frac",
    "resp_has_fence",
    "resp_digit_frac",
    "resp_equation_frac",
    "resp_final_number",
    "resp_step_words",
    "resp_letter_answer",
    "resp_very_short",
    "resp_assistant_phrases",
    "resp_log_sentences",
    "resp_mean_sentence_words",
    "resp_question_marks",
    "prompt_log_chars",
    "prompt_option_lines",
    "prompt_inline_options",
    "prompt_which_phrase",
    "prompt_digit_frac",
    "prompt_numbers",
    "prompt_code_words",
    "prompt_code_frac",
    "prompt_offers_options",
)


def _log(n: float) -> float:
    return math.log1p(max(n, 0.0))


def code_fraction(text: str) -> float:
    """Share of the text's non-blank lines that are code: inside ``` fences or code-like lines outside them.

    Unfenced lines count only when at least two code-like lines are present, so a
    sentence that happens to end in ``)`` is not code.
    """
    fenced = 0
    rest_parts: list[str] = []
    last = 0
    for m in _FENCE.finditer(text):
        rest_parts.append(text[last : m.start()])
        fenced += sum(1 for line in m.group(0).splitlines()[1:] if line.strip() and not line.strip().startswith("```"))
        last = m.end()
    rest_parts.append(text[last:])
    rest_lines = [line for part in rest_parts for line in part.splitlines() if line.strip()]
    code_like = sum(1 for line in rest_lines if _CODE_LINE.search(line))
    if code_like < 2:
        code_like = 0
    total = fenced + len(rest_lines)
    return (fenced + code_like) / total if total else 0.0


def _option_lines(text: str) -> int:
    """Distinct option letters that start lines (A., B), (c) ...); 0 or 1 means no option list."""
    letters = {m.group(1).upper() for line in text.splitlines() if (m := _OPTION_LINE.match(line))}
    return len(letters) if len(letters) >= 2 else 0


def offers_options(prompt: str) -> bool:
    """Whether the prompt offers lettered answer options: two or more option lines, or two or more inline "(A) ..." letters.

    A ``multiple_choice`` answer needs options to choose from, so the style model
    rules that class out where this is false (see ``StyleModel.logits``).
    """
    if _option_lines(prompt):
        return True
    return len({m.group(1).upper() for m in _INLINE_LETTER.finditer(prompt)}) >= 2


def _frac(n: int, d: int) -> float:
    return n / d if d else 0.0


def features(prompt: str, response: str) -> list[float]:
    """The feature vector (ordered as ``FEATURE_NAMES``) of one prompt/response pair."""
    prompt = prompt or ""
    response = response or ""
    r = response.strip()
    lines = [l for l in r.splitlines() if l.strip()]
    words = r.split()
    paragraphs = [p for p in re.split(r"\n\s*\n", r) if p.strip()]
    prose = _FENCE.sub(" ", r)
    sentences = [s for s in _SENT_SPLIT.split(prose.replace("\n", " ")) if s.strip()]
    n_sent = max(len(sentences), 1)
    tail = r[-160:]
    return [
        _log(len(r)),
        _log(len(words)),
        _log(len(paragraphs)),
        _log(len(lines)),
        _frac(sum(1 for l in lines if _BULLET.match(l)), len(lines)),
        _log(sum(1 for l in lines if _NUMBERED.match(l))),
        _log(sum(1 for l in lines if _HEADING.match(l))),
        _log(len(_BOLD.findall(r))),
        code_fraction(r),
        1.0 if "```" in r else 0.0,
        _frac(sum(c.isdigit() for c in r), len(r)),
        _frac(sum(1 for l in lines if _EQUATION.search(l)), len(lines)),
        1.0 if _FINAL_NUMBER.search(tail) else 0.0,
        _frac(len(_STEP_WORDS.findall(prose)), n_sent),
        1.0 if (_LETTER_START.match(r) or _LETTER_SAID.search(r[:300])) and (_option_lines(prompt) or _INLINE_OPTIONS.search(prompt)) else 0.0,
        1.0 if len(words) <= 5 else 0.0,
        _frac(len(_ASSISTANT.findall(prose)), n_sent),
        _log(len(sentences)),
        _frac(len(prose.split()), n_sent) / 10.0,
        _log(r.count("?")),
        _log(len(prompt)),
        float(_option_lines(prompt)),
        1.0 if _INLINE_OPTIONS.search(prompt) else 0.0,
        1.0 if _WHICH.search(prompt) else 0.0,
        _frac(sum(c.isdigit() for c in prompt), len(prompt)),
        _log(len(_NUMBER.findall(prompt))),
        _log(len(_CODE_PROMPT.findall(prompt))),
        code_fraction(prompt),
        1.0 if offers_options(prompt) else 0.0,
    ]


def feature_matrix(prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
    """Features of many pairs: float32 array of shape (n, len(FEATURE_NAMES))."""
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    out = np.zeros((len(prompts), len(FEATURE_NAMES)), dtype=np.float32)
    for i, (p, r) in enumerate(zip(prompts, responses)):
        out[i] = features(p, r)
    return out


def feature_dict(prompt: str, response: str) -> dict[str, float]:
    """Named features of one pair (for explanations and tests)."""
    return dict(zip(FEATURE_NAMES, features(prompt, response)))
