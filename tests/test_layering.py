"""The architecture on one screen: which part of mixwise may import which, checked on every import in the code.

    mixwise/
      errors, schema, chat, workspace, models   base: import no stage, view, demo or CLI
      records/     the typed files between stages (manifest, run, eval results); imports only errors
      curate/      ingest, embed, cluster, dedup, style, quality   -> base
      mixing/      specs, selection, manifests, diff               -> base, curate
      finetune/    manifest -> batches -> trained run              -> base, curate, mixing
      evaluate/    mc, judge, serve, attribution                   -> base, curate, mixing, finetune
      study/       ablation studies: designs, runner, fit           -> base, stages; never views, demo or CLI
      views/       rich renderings of what the stages return       -> base, stages; never demo or CLI
      demo/        `mixwise demo`, one module per step             -> everything but the CLI
      cli/         thin typer commands                             -> everything

Stages and records know no screen: they never import rich, typer or textual,
nor views, the demo or the CLI. The walk reads the source (AST), so an import
inside a function counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mixwise"
SCREENS = ("rich", "typer", "textual")
STAGES = ("curate", "mixing", "finetune", "evaluate")
BASE = ("errors", "schema", "chat", "workspace", "models")

#: part -> what it must not import (prefixes of module names).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "curate": ("mixwise.mixing", "mixwise.finetune", "mixwise.evaluate"),
    "mixing": ("mixwise.finetune", "mixwise.evaluate"),
    "finetune": ("mixwise.evaluate",),
    "evaluate": (),
}
for _stage in STAGES:
    FORBIDDEN[_stage] += ("mixwise.cli", "mixwise.demo", "mixwise.views", *SCREENS)
FORBIDDEN["records"] = ("mixwise.curate", "mixwise.mixing", "mixwise.finetune", "mixwise.evaluate", "mixwise.workspace",
                        "mixwise.models", "mixwise.views", "mixwise.cli", "mixwise.demo", *SCREENS)
FORBIDDEN["base"] = ("mixwise.curate", "mixwise.mixing", "mixwise.finetune", "mixwise.evaluate", "mixwise.views",
                     "mixwise.cli", "mixwise.demo", *SCREENS)
FORBIDDEN["views"] = ("mixwise.cli", "mixwise.demo", "typer")
FORBIDDEN["study"] = ("mixwise.cli", "mixwise.demo", "mixwise.views", *SCREENS)
for _stage in STAGES:  # no stage depends on the studies built from it
    FORBIDDEN[_stage] += ("mixwise.study",)
FORBIDDEN["demo"] = ("mixwise.cli", "typer")


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path = PACKAGE) -> list[tuple[int, str]]:
    """(line, module) of every import in the file, relative ones resolved, at any depth."""
    tree = ast.parse(path.read_text(), filename=str(path))
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                mod = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
            out += [(node.lineno, f"{mod}.{alias.name}") for alias in node.names]  # `from mixwise import cli`
    return out


def part_of(path: Path, root: Path = PACKAGE) -> str | None:
    rel = path.relative_to(root).parts
    if len(rel) > 1:
        return rel[0] if rel[0] in FORBIDDEN else None
    return "base" if path.stem in BASE else None


def violations(root: Path = PACKAGE) -> list[str]:
    """Every import that breaks the layering, as ``file:line: part imports module``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        part = part_of(path, root)
        if part is None:
            continue
        for line, mod in imports(path, root):
            for bad in FORBIDDEN[part]:
                if mod == bad or mod.startswith(bad + "."):
                    found.append(f"{path.relative_to(root.parent)}:{line}: {part} imports {mod}")
    return sorted(set(found))


def test_every_part_imports_only_what_the_layering_allows():
    assert violations() == []


def test_the_walk_sees_imports_inside_functions_and_relative_ones(tmp_path):
    """The check can fail: a stage-shaped file with a function-level CLI import and a relative import of mixing."""
    stage = tmp_path / "mixwise" / "curate"
    stage.mkdir(parents=True)
    (stage / "bad.py").write_text("from ..mixing import manifest\n\n\ndef show():\n    from mixwise.cli.cluster import x\n"
                                  "    import rich.table\n")
    (tmp_path / "mixwise" / "workspace.py").write_text("def f():\n    from mixwise import demo\n")
    assert violations(tmp_path / "mixwise") == [
        "mixwise/curate/bad.py:1: curate imports mixwise.mixing",
        "mixwise/curate/bad.py:1: curate imports mixwise.mixing.manifest",
        "mixwise/curate/bad.py:5: curate imports mixwise.cli.cluster",
        "mixwise/curate/bad.py:5: curate imports mixwise.cli.cluster.x",
        "mixwise/curate/bad.py:6: curate imports rich.table",
        "mixwise/workspace.py:2: base imports mixwise.demo",
    ]


@pytest.mark.parametrize("module", ["mixwise.curate.cluster", "mixwise.mixing.manifest", "mixwise.finetune.train",
                                    "mixwise.evaluate.attribute", "mixwise.records"])
def test_importing_a_stage_loads_no_screen(module):
    """`python -c "import mixwise.curate.cluster"` (and the other stages) imports neither typer nor rich."""
    code = f"import sys, {module}; bad = sorted(m for m in sys.modules if m.split('.')[0] in {SCREENS!r}); assert not bad, bad"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert r.returncode == 0, r.stdout + r.stderr
