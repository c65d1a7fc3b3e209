"""Studies end to end with real processes: the CLI on a tiny-random study, resume after SIGKILL, --jobs 2 = --jobs 1, failures.

Every study here trains tiny-random for a few steps on project-written data and
scores a project-written addition task; nothing is mocked.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from mixwise.records.study import StudyFitRecord, StudyRecord
from tests.study_fixtures import make_study, mixwise, popen

pytestmark = pytest.mark.slow
TIMING = ("started_at", "finished_at", "seconds", "updated_at", "created_at")


def record(root: Path, name: str = "tiny") -> StudyRecord:
    return StudyRecord.read(root / "studies" / name / "study.json")


def untimed(rec: StudyRecord) -> dict:
    """The record without its timings and absolute paths (what must not depend on --jobs)."""
    d = rec.to_dict()
    for k in TIMING:
        d.pop(k, None)
    d["steps"] = [{k: v for k, v in s.items() if k not in TIMING} for s in d["steps"]]
    d.pop("spec_path")
    d["spec"]["base"].pop("path")
    return d


def test_a_study_through_the_cli(tmp_path):
    spec = make_study(tmp_path)
    plan = mixwise(tmp_path, "ablate", str(spec), "--plan")
    assert plan.returncode == 0, plan.stderr
    assert "3 cells x 2 replicates = 6 trainings of tiny-random" in plan.stdout.replace("\n", " ")
    assert "smallest detectable difference" in plan.stdout
    run = mixwise(tmp_path, "ablate", str(spec))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "[15/15]" in run.stdout and "ETA" in run.stdout
    rec = record(tmp_path)
    assert rec.counts() == {"pending": 0, "running": 0, "done": 15, "failed": 0}
    assert [c.id for c in rec.cells] == ["base", "chef-0.25", "chef-0.75"]
    assert rec.cells[1].parts == {"chef": 0.25, "coder": 0.75}
    man = json.loads((tmp_path / "studies" / "tiny" / rec.cells[1].manifest.path / "manifest.json").read_text())
    assert man["parent"] == rec.base.version  # every cell is a child of the base mixture

    listing = json.loads(mixwise(tmp_path, "studies", "--json").stdout)
    assert listing[0]["name"] == "tiny" and listing[0]["done"] == 15 and listing[0]["eta_s"] == 0

    show = json.loads(mixwise(tmp_path, "study", "show", "tiny", "--json").stdout)
    add = show["scores"]["tasks"]["add"]
    assert show["scores"]["cells"] == ["base", "chef-0.25", "chef-0.75"] and add["n_items"] == 16
    assert len(add["mean"]) == 3 and add["delta"][0] == 0 and add["replicates"] == [2, 2, 2]

    fitted = mixwise(tmp_path, "study", "fit", "tiny")
    assert fitted.returncode == 0, fitted.stderr
    assert "tasks tested moved beyond noise (Benjamini-Hochberg" in fitted.stdout.replace("\n", " ")
    fit = StudyFitRecord.read(tmp_path / "studies" / "tiny" / "fit.json")
    assert fit.tasks["add"].model == "linear" and fit.tasks["add"].cv["linear"].cells_predicted == 3
    assert fit.proposal is not None and (tmp_path / "studies" / "tiny" / "proposed.yaml").is_file()
    built = mixwise(tmp_path, "mix", str(tmp_path / "studies" / "tiny" / "proposed.yaml"), "-m", str(tmp_path / "manifests"))
    assert built.returncode == 0, built.stderr

    # a second run does nothing: every step is done with the same fingerprint, and no file is rewritten
    run_json = tmp_path / "studies" / "tiny" / "runs" / "base-r0" / "run.json"
    before = run_json.stat().st_mtime_ns
    again = mixwise(tmp_path, "ablate", str(spec))
    assert again.returncode == 0 and "[" not in again.stdout.split("study tiny:")[0]
    assert untimed(record(tmp_path)) == untimed(rec) and run_json.stat().st_mtime_ns == before

    # --validate trains and scores the proposed mixture as a new cell, and puts observed next to predicted
    val = mixwise(tmp_path, "study", "fit", "tiny", "--validate")
    assert val.returncode == 0, val.stdout + val.stderr
    fit = StudyFitRecord.read(tmp_path / "studies" / "tiny" / "fit.json")
    assert set(fit.proposal.observed) == {"add"} and "vs observed" in val.stdout
    proposed = record(tmp_path).cell("proposed")
    assert proposed.origin == "proposed" and proposed.manifest is not None
    assert "proposed" not in fit.cells  # a validation cell is never part of the fit that it checks


def _wait(cond, proc, timeout=600):
    t0 = time.time()
    while not cond():
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() - t0 < timeout, "timed out"
        time.sleep(0.2)


def _status(root: Path, step: str) -> str | None:
    p = root / "studies" / "tiny" / "study.json"
    try:
        return next(s["status"] for s in json.loads(p.read_text())["steps"] if s["id"] == step)
    except (OSError, ValueError, StopIteration):
        return None


def test_resume_after_sigkill_at_a_step_boundary_and_mid_training(tmp_path):
    spec = make_study(tmp_path, levels="[0.25]", replicates=1, max_steps=5, checkpoint_every=1,
                      recipe_overrides="{packing: false, batch_size: 1, micro_batch_size: 1}")  # 12 steps an epoch
    # 1: kill right after the base cell's evaluation is recorded (between steps)
    proc = popen(tmp_path, "ablate", str(spec))
    _wait(lambda: _status(tmp_path, "eval:base:r0:arith") == "done", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = record(tmp_path)
    done = {s.id: s for s in first.steps if s.done}
    assert "train:base:r0" in done
    base_run = tmp_path / "studies" / "tiny" / "runs" / "base-r0" / "run.json"
    mtime = base_run.stat().st_mtime_ns
    # 2: kill in the middle of the next training, once it has written two checkpoints
    proc = popen(tmp_path, "ablate", str(spec))
    ckpt = tmp_path / "studies" / "tiny" / "runs" / "chef-0.25-r0" / "checkpoint-step-2" / "trainer_state.pt"
    _wait(ckpt.is_file, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _status(tmp_path, "train:chef-0.25:r0") == "running"  # cut off while running
    # 3: run to the end
    last = mixwise(tmp_path, "ablate", str(spec))
    assert last.returncode == 0, last.stdout + last.stderr
    rec = record(tmp_path)
    assert rec.counts()["done"] == len(rec.steps)
    for sid, s in done.items():  # finished steps untouched: same fingerprint, same finish time, same files
        assert rec.step(sid).fingerprint == s.fingerprint and rec.step(sid).finished_at == s.finished_at
    assert base_run.stat().st_mtime_ns == mtime
    resumed = json.loads((tmp_path / "studies" / "tiny" / "runs" / "chef-0.25-r0" / "run.json").read_text())
    assert resumed["resumed_from"].endswith("checkpoint-step-2") and resumed["steps"] == 5
    assert rec.step("train:chef-0.25:r0").attempts >= 2  # the first kill may already have started it


def test_jobs_2_gives_the_same_record_as_jobs_1(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        root.mkdir()
        make_study(root, levels="[0.25]")
    r1 = mixwise(a, "ablate", str(a / "tiny.yaml"), "--jobs", "1")
    r2 = mixwise(b, "ablate", str(b / "tiny.yaml"), "--jobs", "2")
    assert r1.returncode == 0 and r2.returncode == 0, r1.stdout + r2.stdout
    ra, rb = untimed(record(a)), untimed(record(b))
    assert ra["steps"] == rb["steps"] and ra["cells"] == rb["cells"] and ra == rb


def test_a_failing_cell_is_recorded_and_the_others_go_on(tmp_path):
    spec = make_study(tmp_path, levels="[1.0]", replicates=1)
    # at a total of 20 samples the cell made only of chef asks its source for 20 rows; it has 13
    text = spec.read_text().replace("{design: sweep, component: chef, levels: [1.0]}",
                                    "{design: list, total: 20, cells: [{name: allchef, shares: {chef: 1.0, coder: 0.0}}]}")
    spec.write_text(text)
    run = mixwise(tmp_path, "ablate", str(spec))
    assert run.returncode == 1
    assert "1 step(s) failed" in run.stdout and "--retry-failed" in run.stdout
    rec = record(tmp_path)
    failed = rec.step("mix:allchef")
    assert failed.status == "failed" and "short by" in failed.error
    assert rec.step("eval:base:r0:arith").done and rec.step("train:allchef:r0").status == "pending"
    show = mixwise(tmp_path, "study", "show", "tiny")
    assert "failed" in show.stdout and "short by" in show.stdout.replace("\n", " ")
    retry = mixwise(tmp_path, "ablate", str(spec), "--retry-failed")
    assert record(tmp_path).step("mix:allchef").attempts == 2 and retry.returncode == 1
    assert os.path.isdir(tmp_path / "studies" / "tiny" / "runs" / "base-r0")
