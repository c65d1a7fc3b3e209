"""Records: the typed contracts of every file that crosses a stage boundary.

Each record is a frozen dataclass whose field types are its schema; every
writer and every reader goes through it. Reading is strict (``Record.read`` /
``Record.from_dict``): a missing, unknown or wrong-typed field raises
:class:`mixwise.errors.InputError` naming the file, the dotted field and the
command that re-creates the file -- never a default. Files of older schemas are
migrated on read (``Record.migrate``); ``tests/fixtures/records_v1/`` holds
files written by release 0.1.0 that must stay readable.

=================================================  ==========================  ===================  ======
file                                               record                      written by           schema
=================================================  ==========================  ===================  ======
``manifests/<name>/<version>/manifest.json``       :class:`Manifest`           ``mixwise mix``      1
``runs/<run>/run.json``                            :class:`RunRecord`          ``mixwise train``    1
``<run>/eval/mc/<label>/results.json``             :class:`McResults`          ``mixwise eval mc``  1
``<run>/eval/mc/<label>/items/<task>.jsonl``       :class:`McItem` per line    ``mixwise eval mc``  (results')
``<run>/eval/judge/<set>/summary.json``            :class:`JudgeSummary`       ``eval judge``       1
``<run>/eval/judge/<set>/items.jsonl``             :class:`JudgeItem` per line ``eval judge``       (summary's)
=================================================  ==========================  ===================  ======

Who reads what is in docs/records.md. Comparing runs goes through one view,
mc and judge alike: :func:`read_run_scores` -> :class:`EvalScores` of
:class:`TaskScores` (task, metric, score, n, items keyed for pairing).

Study record
------------
``studies/<name>/study.json`` (the study spec and its hash, every cell and
step with status, fingerprint and error) is added to this package by the
ablation work, with the same conventions: its own module, a
``SCHEMA_VERSION``, strict reading, and a row in the table above.
"""

from __future__ import annotations

from mixwise.records.base import ABSENT, Record, local, may_be_absent, read_jsonl, write_jsonl, write_text_atomic
from mixwise.records.eval_judge import (
    CategoryWinRate,
    ClientStats,
    JudgeInfo,
    JudgeItem,
    JudgeRunInfo,
    JudgeSummary,
    Judgment,
    ParseStats,
    PositionStats,
    RejudgeStats,
    ScoreStats,
    judge_set_dir,
    judge_sets,
    read_judge_items,
    write_judge_items,
)
from mixwise.records.eval_mc import (
    Gauntlet,
    GauntletCategory,
    GauntletTask,
    McGroupResult,
    McItem,
    McResults,
    McTaskResult,
    items_path,
    mc_labels,
    mc_results_dir,
    read_mc_items,
    write_mc_items,
)
from mixwise.records.manifest import (
    AXIS_STAGES,
    ComponentCount,
    Composition,
    Counts,
    DedupDecision,
    Group,
    Histogram,
    Inputs,
    Lengths,
    Manifest,
    Quantiles,
    SourceInput,
    StageInput,
    content_version,
    not_recorded_hint,
)
from mixwise.records.run import (
    RUN_FILE,
    LossPoint,
    ManifestRef,
    MaskingAudit,
    ModelInfo,
    RunData,
    RunRecord,
    SourceMasking,
    Throughput,
    is_run_dir,
)
from mixwise.records.scores import JUDGE_PREFIX, EvalScores, TaskScores, read_run_scores

__all__ = [
    "ABSENT", "AXIS_STAGES", "CategoryWinRate", "ClientStats", "ComponentCount", "Composition", "Counts", "DedupDecision",
    "Gauntlet", "GauntletCategory", "GauntletTask", "Group", "Histogram", "Inputs", "JUDGE_PREFIX", "JudgeInfo",
    "JudgeItem", "JudgeRunInfo", "JudgeSummary", "Judgment", "Lengths", "LossPoint", "Manifest", "ManifestRef",
    "MaskingAudit", "McGroupResult", "McItem", "McResults", "McTaskResult", "ModelInfo", "ParseStats", "PositionStats",
    "Quantiles", "RUN_FILE", "Record", "RejudgeStats", "RunData", "RunRecord", "EvalScores", "ScoreStats",
    "SourceInput", "SourceMasking", "StageInput", "TaskScores", "Throughput", "content_version", "is_run_dir",
    "items_path", "judge_set_dir", "judge_sets", "local", "may_be_absent", "mc_labels", "mc_results_dir",
    "not_recorded_hint", "read_judge_items", "read_jsonl", "read_mc_items", "read_run_scores", "write_jsonl",
    "write_judge_items", "write_mc_items", "write_text_atomic",
]
