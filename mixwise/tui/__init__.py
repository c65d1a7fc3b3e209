"""Terminal apps (Textual) over the stages' Python API: ``mixwise diff A B --tui`` and ``mixwise clusters --tui``.

Views only: nothing under ``mixwise/curate`` or ``mixwise/mixing`` imports this
package; the CLI imports it lazily, so ``import mixwise`` never loads Textual.
"""
