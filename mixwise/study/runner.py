"""``mixwise ablate``: run a study's steps in dependency order, resumably, one or N at a time.

    from mixwise.study.runner import ablate
    record = ablate("studies/lima-share.yaml", jobs=2)

The runner builds the base mixture (every cell's parent), derives the cells
from the design, and reconciles them with ``studies/<name>/study.json``: a
step that is done with an unchanged fingerprint is kept, one whose inputs
changed is redone, one cut off while running is redone (a training resumes
from its last checkpoint), a failed one stays failed unless ``retry_failed``.
Steps then run in record order as their inputs become ready: with ``jobs=1``
in this process; with more, trainings and evaluations run as worker processes
(``python -m mixwise.study.worker``) that report back, and this process alone
writes the record, so its content does not depend on ``jobs``. A failing
step is recorded with its error and the other cells go on. One ``ablate`` at
a time per study (a lock file says who holds it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from mixwise import __version__
from mixwise.errors import MixwiseError
from mixwise.records.study import STUDY_FILE, Cell, CellManifest, Step, StudyRecord
from mixwise.study.design import CellPlan, design_cells
from mixwise.study.spec import StudySpec, load_study
from mixwise.study.steps import (StepOutcome, StudyContext, eval_fingerprint, execute, mix_fingerprint, new_step,
                                 train_config, train_fingerprint, workspace_state)
from mixwise.workspace import Workspace, now_iso

STUDIES_ENV = "MIXWISE_STUDIES"
#: ``on_event(event, step, record)``; events: start, done, failed, skipped, interrupted
EventFn = Callable[[str, Step | None, StudyRecord], None]


def studies_dir(root: str | os.PathLike | None = None) -> Path:
    """Where studies live: ``root``, ``$MIXWISE_STUDIES`` or ``./studies``."""
    return Path(root or os.environ.get(STUDIES_ENV) or "studies").expanduser()


def study_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    return studies_dir(root) / name


# -- the base mixture and the cells ------------------------------------------------------------------


def build_base(study: StudySpec, ws: Workspace, manifests: Path) -> CellManifest:
    """Build the base mixture as it is (ingesting the sources its spec names that the workspace lacks)."""
    from mixwise.mixing.manifest import build_manifest, ensure_sources

    ensure_sources(study.base, ws, base_dir=study.base_path.parent)
    result = build_manifest(study.base, ws, manifests)
    m = result.manifest
    return CellManifest(name=m.name, version=m.version, path=str(result.path), samples=m.counts.samples, tokens=m.counts.tokens)


def base_counts(manifest_path: Path) -> dict[str, int]:
    """Selected samples per component of the base manifest."""
    from mixwise.records import Manifest

    m = Manifest.read(manifest_path)
    return {c.name: c.selected for c in m.counts.components}


def plan_cells(study: StudySpec, base_manifest: Path) -> list[CellPlan]:
    return design_cells(study, base_counts(base_manifest))


def desired_steps(study: StudySpec, cells: list[CellPlan] | list[Cell]) -> list[tuple[str, str, int | None, str | None]]:
    """(kind, cell, replicate, eval) of every step, in record order: per cell its mix, then per replicate train and evals."""
    out = []
    for c in cells:
        out.append(("mix", c.id, None, None))
        for k in range(study.replicates):
            out.append(("train", c.id, k, None))
            out.extend(("eval", c.id, k, e.name) for e in study.evals)
    return out


# -- the record -------------------------------------------------------------------------------------


def _cell_record(plan: CellPlan, old: Cell | None) -> Cell:
    spec = plan.spec.to_dict()
    keep = old is not None and old.spec == spec
    return Cell(id=plan.id, origin=plan.origin, shares=plan.shares, counts=plan.counts, param=plan.param, spec=spec,
                manifest=old.manifest if keep else None, parts=old.parts if keep else None,
                composition=old.composition if keep else None)


def reconcile(study: StudySpec, ctx: StudyContext, cells: list[CellPlan], old: StudyRecord | None, base: CellManifest, *,
              retry_failed: bool = False, extra_cells: list[Cell] = ()) -> StudyRecord:
    """The record for this run: cells from the design, steps kept / reset by fingerprint (see the module docstring)."""
    old_cells = {c.id: c for c in old.cells} if old else {}
    old_steps = {s.id: s for s in old.steps} if old else {}
    cell_recs = [_cell_record(p, old_cells.get(p.id)) for p in cells]
    # cells added after the design (the proposed mixture of `study fit --validate`) are kept
    known = {c.id for c in cell_recs}
    cell_recs += [c for c in (list(extra_cells) or [c for c in old_cells.values() if c.origin == "proposed"]) if c.id not in known]
    ws_state = workspace_state(Workspace(ctx.workspace))
    rel_base = ctx.rel(Path(base.path))
    steps: list[Step] = []
    by_cell = {c.id: c for c in cell_recs}
    fps: dict[str, str] = {}
    for kind, cid, k, ev in desired_steps(study, cell_recs):
        cell = by_cell[cid]
        if kind == "mix":
            fp = mix_fingerprint(cell.spec, ws_state, base.version)
        elif kind == "train":
            up = fps.get(f"mix:{cid}")
            fp = train_fingerprint(cell.manifest.version, train_config(study, k)) if up and cell.manifest else ""
        else:
            up = fps.get(f"train:{cid}:r{k}")
            fp = eval_fingerprint(up, next(e for e in study.evals if e.name == ev)) if up else ""
        step = new_step(kind, cid, fp, k, ev)
        prev = old_steps.get(step.id)
        if prev is not None:
            step = replace(prev, fingerprint=fp or prev.fingerprint)
            unchanged = bool(fp) and prev.fingerprint == fp
            if prev.status == "done" and not (unchanged and _output_exists(ctx, prev)):
                step = prev.reset(fp)
            elif prev.status == "running":
                step = replace(prev, status="pending")  # cut off last time: redo (a training resumes)
            elif prev.status == "failed" and (retry_failed or not unchanged):
                step = prev.reset(fp)
            elif prev.status == "pending":
                step = replace(prev, fingerprint=fp)
        if step.status == "done":
            fps[step.id] = step.fingerprint
        steps.append(step)
    now = now_iso()
    return StudyRecord(schema_version=StudyRecord.SCHEMA_VERSION, name=study.name, spec_path=str(study.path), spec=study.to_dict(),
                       spec_hash=study.spec_hash(), seed=study.seed, replicates=study.replicates,
                       base=replace(base, path=rel_base), cells=cell_recs, steps=steps,
                       created_at=old.created_at if old else now, updated_at=now, mixwise=__version__)


def _output_exists(ctx: StudyContext, step: Step) -> bool:
    if not step.output:
        return False
    out = ctx.dir / step.output
    if step.kind == "train":
        return (out / "run.json").is_file()
    return out.exists()


def read_record(folder: Path) -> StudyRecord | None:
    p = folder / STUDY_FILE
    return StudyRecord.read(p) if p.is_file() else None


# -- locking ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def study_lock(folder: Path) -> Iterator[None]:
    """Hold ``<study>/.lock`` for this process; a second ``ablate`` of the same study is refused."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".lock"
    fh = open(path, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "another process"
        fh.close()
        raise MixwiseError(f"study {folder.name} is being run by {holder}", "wait for it to finish (mixwise studies shows progress)") from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"mixwise ablate (pid {os.getpid()})")
    fh.flush()
    try:
        yield
    finally:
        fh.seek(0)
        fh.truncate()
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def is_running(folder: Path) -> str | None:
    """Who holds the study's lock, or None."""
    path = folder / ".lock"
    if not path.is_file():
        return None
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            return fh.read().strip() or "another process"
        fcntl.flock(fh, fcntl.LOCK_UN)
    return None


# -- running -----------------------------------------------------------------------------------------


@dataclass
class Runner:
    """Runs the pending steps of one study; see the module docstring."""

    ctx: StudyContext
    record: StudyRecord
    jobs: int = 1
    on_event: EventFn | None = None

    def save(self) -> None:
        self.record = replace(self.record, updated_at=now_iso())
        self.record.write(self.ctx.dir / STUDY_FILE)

    def _set_step(self, step: Step) -> None:
        self.record = replace(self.record, steps=[step if s.id == step.id else s for s in self.record.steps])

    def _set_cell(self, cell: Cell) -> None:
        self.record = replace(self.record, cells=[cell if c.id == cell.id else c for c in self.record.cells])

    def _emit(self, event: str, step: Step | None) -> None:
        if self.on_event:
            self.on_event(event, step, self.record)

    def upstream(self, step: Step) -> str | None:
        if step.kind == "mix":
            return None
        if step.kind == "train":
            return f"mix:{step.cell}"
        return f"train:{step.cell}:r{step.replicate}"

    def ready(self, running: set[str]) -> list[Step]:
        """Pending steps whose input step is done, in record order."""
        status = {s.id: s.status for s in self.record.steps}
        return [s for s in self.record.steps
                if s.status == "pending" and s.id not in running and (self.upstream(s) is None or status.get(self.upstream(s)) == "done")]

    def fingerprint(self, step: Step) -> str:
        """The step's fingerprint now that its input is done."""
        cell = self.record.cell(step.cell)
        if step.kind == "mix":
            return step.fingerprint
        if step.kind == "train":
            return train_fingerprint(cell.manifest.version, train_config(self.ctx.study, step.replicate))
        up = self.record.step(f"train:{step.cell}:r{step.replicate}")
        return eval_fingerprint(up.fingerprint, next(e for e in self.ctx.study.evals if e.name == step.eval))

    def start(self, step: Step) -> Step:
        step = replace(step, fingerprint=self.fingerprint(step), status="running", started_at=now_iso(), finished_at=None,
                       seconds=None, error=None, attempts=step.attempts + 1)
        self._set_step(step)
        self.save()
        self._emit("start", step)
        return step

    def finish(self, step: Step, outcome: StepOutcome | None, seconds: float, error: str | None) -> None:
        step = replace(step, status="failed" if error else "done", output=outcome.output if outcome else None, error=error,
                       finished_at=now_iso(), seconds=round(seconds, 3))
        self._set_step(step)
        if outcome is not None and outcome.manifest is not None:
            cell = self.record.cell(step.cell)
            self._set_cell(replace(cell, manifest=outcome.manifest, parts=outcome.parts, composition=outcome.composition))
        self.save()
        self._emit("failed" if error else "done", step)

    def run_inline(self, step: Step) -> None:
        step = self.start(step)
        t0 = time.perf_counter()
        try:
            outcome, seconds = execute(self.ctx, step, self.record.cell(step.cell), self.record.base.version)
        except KeyboardInterrupt:
            raise
        except Exception as e:  # noqa: BLE001 - a failing step is recorded; the other cells go on
            self.finish(step, None, time.perf_counter() - t0, _error_line(e))
            return
        self.finish(step, outcome, seconds, None)

    def run(self) -> StudyRecord:
        """Run every step that can run; returns the final record."""
        running: dict[str, tuple[subprocess.Popen, Step, float]] = {}
        try:
            while True:
                ready = self.ready(set(running))
                if not ready and not running:
                    break
                if self.jobs <= 1:
                    self.run_inline(ready[0])
                    continue
                for step in ready:
                    if len(running) >= self.jobs:
                        break
                    if step.kind == "mix":  # seconds of work on the workspace: in this process
                        self.run_inline(step)
                        continue
                    step = self.start(step)
                    running[step.id] = (self._spawn(step), step, time.perf_counter())
                if running:
                    self._reap(running)
        except KeyboardInterrupt:
            for proc, _, _ in running.values():
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGINT)
            for proc, _, _ in running.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=30)
            self.record = replace(self.record, steps=[replace(s, status="pending") if s.status == "running" else s
                                                      for s in self.record.steps])
            self.save()
            self._emit("interrupted", None)
            raise
        return self.record

    # -- worker processes ------------------------------------------------------------------------------
    def _result_path(self, step: Step) -> Path:
        return self.ctx.dir / "steps" / (step.id.replace(":", "_") + ".json")

    def _spawn(self, step: Step) -> subprocess.Popen:
        out = self._result_path(step)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.unlink(missing_ok=True)
        log = open(out.with_suffix(".log"), "w")
        cmd = [sys.executable, "-m", "mixwise.study.worker", "--study-dir", str(self.ctx.dir), "--spec", str(self.ctx.study.path),
               "--workspace", str(self.ctx.workspace), "--step", step.id, "--result", str(out)]
        if self.ctx.device:
            cmd += ["--device", self.ctx.device]
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // self.jobs)))
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=_die_with_parent)

    def _reap(self, running: dict) -> None:
        """Wait until one worker finishes and record its outcome."""
        while True:
            for sid, (proc, step, t0) in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[sid]
                self.finish(step, *_read_result(self._result_path(step), proc.returncode, time.perf_counter() - t0))
                return
            time.sleep(0.2)


def _die_with_parent() -> None:
    """In a worker: die when the ablate process dies, even by SIGKILL (Linux), so no orphan keeps writing."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _read_result(path: Path, returncode: int, seconds: float) -> tuple[StepOutcome | None, float, str | None]:
    if not path.is_file():
        log = path.with_suffix(".log")
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.is_file() else []
        why = tail[0] if tail else f"exit status {returncode}"
        return None, seconds, f"worker exited with status {returncode} without a result: {why}"
    data = json.loads(path.read_text())
    if data.get("error"):
        return None, data.get("seconds", seconds), data["error"]
    man = data.get("manifest")
    return StepOutcome(data["output"], CellManifest(**man) if man else None, data.get("parts"), data.get("composition"),
                       data.get("info") or {}), data.get("seconds", seconds), None


def _error_line(e: BaseException) -> str:
    if isinstance(e, MixwiseError):
        return e.line()
    last = traceback.extract_tb(e.__traceback__)[-1:] if e.__traceback__ else []
    where = f" (at {Path(last[0].filename).name}:{last[0].lineno})" if last else ""
    return f"{type(e).__name__}: {e}{where}"


# -- the entry point ---------------------------------------------------------------------------------


def prepare(spec_path: str | os.PathLike, *, workspace: str | os.PathLike | None = None, studies: str | os.PathLike | None = None,
            device: str | None = None, retry_failed: bool = False) -> tuple[StudyContext, StudyRecord]:
    """Load the study, build its base mixture, derive its cells and reconcile them with the record on disk."""
    study = load_study(spec_path)
    ws = Workspace.resolve(workspace)
    folder = study_dir(study.name, studies).resolve()
    ctx = StudyContext(study, folder, ws.root.resolve(), device)
    old = read_record(folder)
    if old is not None and old.spec_path != str(study.path) and Path(old.spec_path).name != Path(str(study.path)).name:
        raise MixwiseError(f"study {study.name!r} in {folder} was made from {old.spec_path}, not {study.path}",
                           "give this study another name, or pass --studies DIR")
    base = build_base(study, ws, ctx.manifests)
    cells = plan_cells(study, Path(base.path))
    record = reconcile(study, ctx, cells, old, base, retry_failed=retry_failed)
    return ctx, record


def ablate(spec_path: str | os.PathLike, *, jobs: int = 1, workspace: str | os.PathLike | None = None,
           studies: str | os.PathLike | None = None, device: str | None = None, retry_failed: bool = False,
           on_event: EventFn | None = None, on_train_step: Callable[[dict], None] | None = None) -> StudyRecord:
    """Run (or resume) a study; see the module docstring. Returns the record."""
    if jobs < 1:
        raise MixwiseError(f"--jobs must be at least 1, got {jobs}", "e.g. --jobs 2")
    study = load_study(spec_path)
    folder = study_dir(study.name, studies).resolve()
    with study_lock(folder):
        ctx, record = prepare(spec_path, workspace=workspace, studies=studies, device=device, retry_failed=retry_failed)
        ctx.on_train_step = on_train_step if jobs == 1 else None
        runner = Runner(ctx, record, jobs, on_event)
        runner.save()
        return runner.run()


__all__ = ["ablate", "is_running", "prepare", "read_record", "reconcile", "studies_dir", "study_dir", "study_lock"]
