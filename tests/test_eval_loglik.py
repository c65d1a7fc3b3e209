"""The scorer on the tiny random model: lm-eval's tokenization, a naive reference, pinned per-item results.

Pins were computed once by mixwise's scorer; each test also recomputes the same
numbers one sequence at a time (full forward, full-vocabulary log-softmax) or
with lm-evaluation-harness itself, so a pin is never only checked against itself.
"""

from __future__ import annotations

import pytest
import torch

from mixwise.evaluate.loglik import Scorer, encode_pair
from mixwise.evaluate.mc import run_task
from mixwise.evaluate.tasks import load_task

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny():
    from mixwise.models import load_causal_lm

    return load_causal_lm("tiny-random", device="cpu")


@pytest.fixture(scope="module")
def scorer(tiny):
    return Scorer(*tiny, batch_tokens=2048)


def naive(tiny, ctx: str, cont: str) -> tuple[float, bool]:
    """One sequence, no batching, no cache: the definition of the number."""
    model, tok = tiny
    c, t = encode_pair(tok, ctx, cont)
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([c + t][:1])[:, :-1]).logits[0].float(), -1)[len(c) - 1 :]
    tgt = torch.tensor(t)
    return float(logp.gather(1, tgt[:, None]).sum()), bool((logp.argmax(-1) == tgt).all())


def naive_greedy(tiny, prompt: str, n: int) -> str:
    model, tok = tiny
    ids = tok(prompt, return_tensors="pt")["input_ids"]
    start = ids.shape[1]
    with torch.no_grad():
        for _ in range(n):
            ids = torch.cat([ids, model(ids).logits[:, -1].argmax(-1, keepdim=True)], 1)
    return tok.decode(ids[0, start:], skip_special_tokens=True)


def test_tokenization_matches_lm_eval(tiny):
    from lm_eval.models.huggingface import HFLM

    from mixwise.models import resolve_model_path

    lm = HFLM(pretrained=resolve_model_path("tiny-random"), batch_size=1, device="cpu")
    pairs = [("Question: 2+2?\nAnswer: ", "4"), ("The cat sat", " on the mat."), ("Answer:", " A"), ("x = ", "  y\n"),
             ("Héllo wörld", "!"), ("Sarah was better than Maria so Maria", " got the harder cases.")]
    for ctx, cont in pairs:
        assert encode_pair(tiny[1], ctx, cont) == tuple(lm._encode_pair(ctx, cont)), (ctx, cont)
    # and the log-likelihoods lm-eval computes for the same requests
    from lm_eval.api.instance import Instance

    reqs = [Instance("loglikelihood", {}, (c, t), i) for i, (c, t) in enumerate(pairs)]
    theirs = lm.loglikelihood(reqs, disable_tqdm=True)
    ours = Scorer(*tiny).loglikelihood([[p] for p in pairs])
    for (ll, greedy), [s] in zip(theirs, ours):
        assert s.loglik == pytest.approx(ll, abs=1e-3) and s.is_greedy == greedy


def test_prefix_sharing_equals_one_sequence_at_a_time(tiny):
    long = " ".join(f"w{i}" for i in range(350))  # > the 512-token sliding window
    groups = [[("Q: what is 2+2?\nA:", " 4"), ("Q: what is 2+2?\nA:", " five apples")],
              [("Sarah beat Maria so Sarah", " won."), ("Sarah beat Maria so Maria", " won.")],
              [("The cat sat on the", " mat")], [(long + " Answer: ", "yes"), (long + " Answer: ", "no way")], [("", "hello")]]
    for budget in (64, 100_000):  # one group per batch vs everything in one batch
        got = Scorer(*tiny, batch_tokens=budget).loglikelihood(groups)
        for g, res in zip(groups, got):
            for (c, t), s in zip(g, res):
                ll, greedy = naive(tiny, c, t)
                assert s.loglik == pytest.approx(ll, abs=1e-3) and s.is_greedy == greedy


GAUNTLET_PINS = {  # task: (per-item summed log-likelihoods of the first 3 items, preds, pred_norms)
    "arc_easy": ([[-175.007, -174.28, -150.052, -137.324], [-61.878, -61.889, -62.48, -62.22],
                  [-62.563, -62.583, -62.682, -62.63]], [3, 0, 0], [0, 0, 2]),
    "winogrande": ([[-74.469, -74.636], [-74.444, -74.579], [-62.632, -62.461]], [0, 0, 1], [0, 0, 0]),
    "lambada_openai": ([[-12.269], [-12.539], [-12.605]], [0, 0, 0], [0, 0, 0]),
    "mmlu_anatomy": ([[-12.463, -12.959, -12.544, -12.543], [-12.469, -12.917, -12.538, -12.527],
                      [-12.452, -12.971, -12.56, -12.527]], [0, 0, 0], [0, 0, 0]),
}


@pytest.mark.parametrize("task", list(GAUNTLET_PINS))
def test_pinned_items_each_shape(task, tiny, scorer, shared_data):
    lls, preds, norms = GAUNTLET_PINS[task]
    t = load_task(task)
    dirs = [shared_data / "mc" / "gauntlet", shared_data / "mc"]
    agg, records = run_task(t, scorer, dirs, limit=3)
    assert agg["n"] == 3 and [r["pred"] for r in records] == preds and [r["pred_norm"] for r in records] == norms
    for rec, pinned, item in zip(records, lls, t.items(dirs, limit=3)):
        assert rec["loglik"] == pytest.approx(pinned, abs=2e-3)
        ref = [naive(tiny, c, x) for c, x in item.requests]  # not circular: recomputed naively
        assert rec["loglik"] == pytest.approx([r[0] for r in ref], abs=1e-3)
        assert rec["is_greedy"] == [r[1] for r in ref]
    assert agg["acc"] == pytest.approx(sum(r["acc"] for r in records) / 3)


def test_pinned_generation_with_stop_and_exact_match(tiny, scorer, shared_data):
    t = load_task("triviaqa")
    agg, records = run_task(t, scorer, shared_data / "mc" / "gauntlet", limit=2)
    assert records[0]["generation"].startswith(" Fuß Alison Alison")
    assert records[1]["generation"].startswith("listener geotechnical geotechnical")
    items = t.items(shared_data / "mc" / "gauntlet", limit=2)
    for rec, it in zip(records, items):
        ref = naive_greedy(tiny, it.prompt, 32).split("\n")[0]
        assert rec["generation"] == ref
        assert rec["acc"] == 0.0 and rec["answers"] == it.answers


def test_generation_stops_at_the_stop_sequence(tiny):
    scorer = Scorer(*tiny)
    full = naive_greedy(tiny, "Question: Who?\nAnswer:", 12)
    word = full.split()[1]  # stop on a word the model will produce
    out = scorer.generate(["Question: Who?\nAnswer:"], stop=[word], max_new_tokens=12)[0]
    assert word not in out and full.startswith(out)
