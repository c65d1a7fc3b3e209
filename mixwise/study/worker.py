"""One study step in its own process: ``python -m mixwise.study.worker`` (started by ``mixwise ablate --jobs N``).

The worker reads the study record the runner just wrote, runs the one step it
was given and writes its outcome (or its error) as JSON to ``--result``; the
runner records it. It never writes the study record itself.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from mixwise.records.base import write_text_atomic


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mixwise.study.worker", description=__doc__)
    ap.add_argument("--study-dir", required=True)
    ap.add_argument("--spec", required=True)
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--step", required=True)
    ap.add_argument("--result", required=True)
    ap.add_argument("--device", default=None)
    a = ap.parse_args(argv)

    from mixwise.records.study import STUDY_FILE, StudyRecord
    from mixwise.study.runner import _error_line
    from mixwise.study.spec import load_study
    from mixwise.study.steps import StudyContext, execute

    t0 = time.perf_counter()
    try:
        folder = Path(a.study_dir)
        record = StudyRecord.read(folder / STUDY_FILE)
        step = record.step(a.step)
        ctx = StudyContext(load_study(a.spec), folder, Path(a.workspace), a.device)
        outcome, seconds = execute(ctx, step, record.cell(step.cell), record.base.version)
        data = {"output": outcome.output, "seconds": seconds, "info": outcome.info, "parts": outcome.parts,
                "composition": outcome.composition,
                "manifest": outcome.manifest.__dict__ if outcome.manifest is not None else None}
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - reported to the runner, which records it
        data = {"error": _error_line(e), "seconds": time.perf_counter() - t0}
    write_text_atomic(a.result, json.dumps(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
