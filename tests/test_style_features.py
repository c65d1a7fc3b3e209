"""Style features on tricky, hand-written inputs (no data files, no models)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mixwise.curate.style_features import FEATURE_NAMES, code_fraction, feature_dict, feature_matrix, offers_options

LONG_WITH_SNIPPET = """Sorting in Python is usually done with the built-in `sorted` function, which returns a new list.

It accepts a `key` argument, a function applied to each element before comparing, and `reverse=True` for descending order.
This is stable: equal elements keep their relative order, which matters when you sort by several keys in turn.

For example:

```python
people.sort(key=lambda p: p.age)
```

If you need to sort in place, call the list's own `sort` method instead; it works the same way but returns None.
Both run in O(n log n) time and use Timsort, which is especially fast on data that is already partly ordered.
In short, prefer `sorted` when you want to keep the original and `list.sort` when memory matters."""

MC_PROMPT = """Which of the following gases makes up most of Earth's atmosphere?
A. Oxygen
B. Nitrogen
C. Carbon dioxide
D. Argon"""

MC_LONG_EXPLANATION = (
    "The answer is B. Nitrogen makes up about 78 percent of the atmosphere by volume, while oxygen is about 21 percent. "
    "Carbon dioxide is a trace gas at roughly 0.04 percent, and argon is just under one percent. Although oxygen is the gas "
    "we need to breathe, it is far less abundant than nitrogen, which is relatively inert and accumulated over geological time."
)

GSM8K_STYLE = """Natalia sold 48/2 = 24 clips in May.
Natalia sold 48 + 24 = 72 clips altogether in April and May.
#### 72"""

MATH_WITH_NAMES = """Ernesto = 11 + 3 = 14
Jayden = 14/2 = 7 in 3 years
Now = 7 - 3 = 4
The answer is 4."""

UNFENCED_CODE = """def is_palindrome(s):
    s = ''.join(c for c in s.lower() if c.isalnum())
    return s == s[::-1]

print(is_palindrome("A man, a plan"))"""


def test_vector_shape_and_names():
    m = feature_matrix(["q", ""], ["a", ""])
    assert m.shape == (2, len(FEATURE_NAMES)) and m.dtype == np.float32
    assert np.isfinite(m).all()


def test_code_inside_a_long_answer_is_not_mostly_code():
    f = feature_dict("How do I sort a list in Python?", LONG_WITH_SNIPPET)
    assert f["resp_has_fence"] == 1.0
    assert 0 < f["resp_code_frac"] < 0.25  # one code line among many prose lines
    assert f["resp_log_paragraphs"] >= math.log1p(4)
    assert f["prompt_code_words"] > 0


def test_fenced_program_is_mostly_code():
    answer = "Here it is:\n```python\n" + UNFENCED_CODE + "\n```"
    assert code_fraction(answer) > 0.7


def test_unfenced_code_is_detected():
    assert code_fraction(UNFENCED_CODE) >= 0.75


def test_arithmetic_lines_are_not_code():
    assert code_fraction(MATH_WITH_NAMES) == 0.0
    assert code_fraction(GSM8K_STYLE) == 0.0


def test_multiple_choice_with_long_explanation():
    f = feature_dict(MC_PROMPT, MC_LONG_EXPLANATION)
    assert f["prompt_option_lines"] == 4
    assert f["resp_letter_answer"] == 1.0  # a long explanation after the letter still answers with a letter
    assert f["prompt_which_phrase"] == 1.0


def test_letter_answer_needs_options_in_the_prompt():
    # "A great ..." is not an option letter, and a letter without options in the prompt is no MC answer.
    assert feature_dict(MC_PROMPT, "A great question! Let me think.")["resp_letter_answer"] == 0.0
    assert feature_dict("Name a vitamin.", "C.")["resp_letter_answer"] == 0.0
    assert feature_dict(MC_PROMPT, "B")["resp_letter_answer"] == 1.0
    assert feature_dict("Pick one: (A) red (B) blue (C) green", "(c) green")["resp_letter_answer"] == 1.0
    assert feature_dict(MC_PROMPT, "the answer is a bit unclear")["resp_letter_answer"] == 0.0


def test_worked_math_solution():
    f = feature_dict("Natalia sold clips to 48 of her friends in April, and half as many in May. How many in total?", GSM8K_STYLE)
    assert f["resp_final_number"] == 1.0
    assert f["resp_equation_frac"] >= 0.6
    assert f["resp_code_frac"] == 0.0
    assert feature_dict("Who wrote Hamlet?", "William Shakespeare wrote Hamlet.")["resp_final_number"] == 0.0


def test_lists_headings_and_assistant_phrasing():
    answer = "Sure, here's a plan:\n\n## Week 1\n- Run 3 km\n- Stretch\n\n## Week 2\n1. Run 5 km\n2. Rest\n\nI hope this helps!"
    f = feature_dict("Give me a running plan", answer)
    assert f["resp_log_headings"] >= math.log1p(2)
    assert f["resp_bullet_frac"] >= 0.5
    assert f["resp_assistant_phrases"] > 0


def test_non_latin_text_and_whitespace_only():
    f = feature_dict("스타일을 설명해 주세요", "   \n\n  ")
    assert f["resp_log_chars"] == 0.0 and f["resp_very_short"] == 1.0
    g = feature_dict("Translate", "这是一个很长的中文回答。" * 30)
    assert g["resp_log_chars"] > 5 and g["resp_code_frac"] == 0.0


def test_mismatched_lengths_fail():
    with pytest.raises(ValueError):
        feature_matrix(["a"], [])


@pytest.mark.parametrize("prompt, offered", [
    ("Q?\nA. one\nB. two\nC. three", True),
    ("Q?\n(a) one\n(b) two", True),
    ("Which is equivalent to (a* + b)*?\n(A) a*(c + d)+ b(c + d) (B) a*(c + d)* + b(c + d)*", True),  # parentheses in options
    ("Answer: (C) only", False),  # one letter offers no choice
    ("Which of the following are fruits: apple, carrot, pear?", False),  # a phrase, no lettered options
    ("Read this passage and reply OK.\n\nIt was a dark night (a very dark one).", False),
    ("", False),
])
def test_offers_options(prompt, offered):
    assert offers_options(prompt) is offered
    assert feature_dict(prompt, "x")["prompt_offers_options"] == float(offered)
