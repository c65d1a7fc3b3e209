"""Domain errors that name the problem and the fix.

Library code raises :class:`MixwiseError` (or a subclass); the CLI turns it into
one clean line at the boundary. Keep messages concrete: the bad value, where it
was found, and what to do instead.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class MixwiseError(Exception):
    """An error a user can fix: ``problem`` says what is wrong, ``fix`` what to do."""

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(self.line())

    def line(self) -> str:
        """The one-line form printed by the CLI."""
        return f"{self.problem}; {self.fix}" if self.fix else self.problem


class InputError(MixwiseError):
    """Bad or unreadable input data (files, records, fields)."""


class SpecError(MixwiseError):
    """An invalid spec, recipe or task file."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """A fix hint for an unknown name: the closest known names, then the full list."""
    known = sorted(set(known))
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    # A long list buries the hint: show the first names and how many more there are.
    listing = (", ".join(known[:15]) + f", ... ({len(known) - 15} more)") if len(known) > 15 else (", ".join(known) or "(none)")
    if close:
        return f"did you mean {' or '.join(repr(c) for c in close)}? known: {listing}"
    return f"known: {listing}"
