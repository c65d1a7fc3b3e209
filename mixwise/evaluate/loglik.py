"""Log-likelihood scoring of (context, continuation) pairs, batched and prefix-shared.

Tokenization follows lm-evaluation-harness exactly (``_encode_pair``): trailing
whitespace of the context moves to the continuation, the whole string is
encoded and split at the length of the encoded context, BOS as the tokenizer
adds it. The sum of continuation log-probabilities and whether greedy decoding
reproduces the continuation are the same numbers lm-eval reports.

What makes it fast (the numbers do not change):

* **Shared prefix, encoded once.** The requests of one item (its choices)
  share a token prefix -- the context for multiple choice, the common start of
  the options for schema tasks. The prefix runs once; its KV cache is
  repeated for each choice and only the short suffixes run again.
* **LM head only where it is scored.** The decoder's hidden states are
  projected to the (large) vocabulary only at the continuation positions;
  lm-eval computes and log-softmaxes logits for every position.
* **Batches by length** under a token budget, prefixes left-padded and
  suffixes right-padded so each row's real tokens stay contiguous (sliding
  window attention sees the same distances); position ids come from the mask.

Example: ``Scorer(model, tok).loglikelihood([[("Q: 2+2=", " 4"), ("Q: 2+2=", " 5")]])``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

Pair = tuple[str, str]


@dataclass
class Scored:
    """One request's result: summed log-likelihood and whether greedy decoding reproduces it."""

    loglik: float
    is_greedy: bool
    n_tokens: int


def encode_pair(tok, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids), split the way lm-evaluation-harness splits them."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        context, continuation = context[: len(context) - n_spaces], context[len(context) - n_spaces :] + continuation
    if not context:  # empty context: condition on BOS (lm-eval's prefix token)
        cont = _encode(tok, continuation, special=False)
        bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        return ([bos], cont) if cont[:1] != [bos] else (cont[:1], cont[1:])
    whole = _encode(tok, context + continuation)
    ctx = _encode(tok, context)
    return ctx, whole[len(ctx) :]


def _encode(tok, text: str, special: bool | None = None) -> list[int]:
    if special is None:  # like lm-eval: no second BOS when the text already starts with it
        special = not (tok.bos_token and text.startswith(tok.bos_token))
    return tok.encode(text, add_special_tokens=special)


def _common_prefix(seqs: Sequence[Sequence[int]]) -> int:
    n = min(len(s) for s in seqs)
    first = seqs[0]
    for i in range(n):
        if any(s[i] != first[i] for s in seqs[1:]):
            return i
    return n


class Scorer:
    """Scores requests with a causal LM; one instance per (model, tokenizer)."""

    def __init__(self, model, tok, *, batch_tokens: int = 2048, max_length: int | None = None):
        self.model, self.tok = model, tok
        self.batch_tokens = batch_tokens
        cfg = model.config
        self.max_length = max_length or min(getattr(cfg, "max_position_embeddings", 2048) or 2048, 8192)
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
        self.device = next(model.parameters()).device
        self.softcap = getattr(cfg, "final_logit_softcapping", None)

    # -- public -----------------------------------------------------------
    @torch.inference_mode()
    def loglikelihood(self, groups: Sequence[Sequence[Pair]], progress: Callable[[int], None] | None = None) -> list[list[Scored]]:
        """Score every pair; pairs in one group (an item's choices) share their common prefix."""
        enc = []
        for g, pairs in enumerate(groups):
            seqs, starts = [], []
            for ctx, cont in pairs:
                c, t = encode_pair(self.tok, ctx, cont)
                full = (c + t)[-(self.max_length + 1) :]  # left-truncate like lm-eval
                seqs.append(full)
                starts.append(len(full) - 1 - len(t))  # input position predicting the first continuation token
            inputs = [s[:-1] for s in seqs]
            p = min(_common_prefix(inputs), min(starts)) if len(inputs) > 1 else min(starts)
            enc.append((g, seqs, starts, max(p, 0)))
        out: list[list[Scored]] = [[] for _ in groups]
        enc.sort(key=lambda e: (-e[3], -max(len(s) for s in e[1])))
        for batch in self._batches(enc):
            for g, res in self._score_batch(batch):
                out[g] = res
            if progress:
                progress(len(batch))
        return out

    @torch.inference_mode()
    def generate(self, prompts: Sequence[str], *, stop: Sequence[str] = ("\n",), max_new_tokens: int = 32,
                 progress: Callable[[int], None] | None = None) -> list[str]:
        """Greedy continuations of each prompt, cut at the first stop sequence."""
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        out = [""] * len(prompts)
        side, self.tok.padding_side = self.tok.padding_side, "left"  # generation continues on the right
        try:
            self._generate(prompts, order, out, stop, max_new_tokens, progress)
        finally:
            self.tok.padding_side = side
        return out

    def _generate(self, prompts, order, out, stop, max_new_tokens, progress) -> None:
        rows = max(1, self.batch_tokens // 512)
        for b in range(0, len(order), rows):
            idx = order[b : b + rows]
            batch = self.tok([prompts[i] for i in idx], return_tensors="pt", padding=True).to(self.device)
            crit = _StopOnText(self.tok, batch["input_ids"].shape[1], stop)
            gen = self.model.generate(**batch, do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=self.pad_id,
                                      stopping_criteria=[crit] if stop else None)
            texts = self.tok.batch_decode(gen[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
            for i, text in zip(idx, texts):
                out[i] = cut_at_stop(text, stop)
            if progress:
                progress(len(idx))

    # -- internals --------------------------------------------------------
    def _batches(self, enc):
        """Groups under the token budget: padded prefix block + padded suffix block (what actually runs)."""
        batch, n_rows, max_p, max_s = [], 0, 0, 0
        for e in enc:
            _, seqs, _, p = e
            s = max(len(x) - 1 - p for x in seqs)
            cost = (len(batch) + 1) * max(max_p, p) + (n_rows + len(seqs)) * max(max_s, s)
            if batch and cost > self.batch_tokens:
                yield batch
                batch, n_rows, max_p, max_s = [], 0, 0, 0
            batch.append(e)
            n_rows, max_p, max_s = n_rows + len(seqs), max(max_p, p), max(max_s, s)
        if batch:
            yield batch

    def _score_batch(self, batch) -> list[tuple[int, list[Scored]]]:
        dev = self.device
        decoder, head = self.model.get_decoder(), self.model.get_output_embeddings()
        plen = [e[3] for e in batch]
        P = max(plen)
        cache = None
        pre_mask = torch.zeros(len(batch), P, dtype=torch.long, device=dev)
        if P:  # prefix pass: left-padded, fills the KV cache
            ids = torch.full((len(batch), P), self.pad_id, dtype=torch.long, device=dev)
            for i, e in enumerate(batch):
                if e[3]:
                    ids[i, P - e[3] :] = torch.tensor(e[1][0][: e[3]], device=dev)
                    pre_mask[i, P - e[3] :] = 1
            from transformers import DynamicCache

            pos = (pre_mask.cumsum(1) - 1).clamp(min=0)
            cache = DynamicCache(config=self.model.config)
            decoder(input_ids=ids, attention_mask=pre_mask, position_ids=pos, past_key_values=cache, use_cache=True)
        # suffix pass: one row per request, right-padded after its group's cached prefix
        rows = [(bi, s[:-1][e[3] :], s, st) for bi, e in enumerate(batch) for s, st in zip(e[1], e[2])]
        S = max(len(r[1]) for r in rows)
        ids = torch.full((len(rows), S), self.pad_id, dtype=torch.long, device=dev)
        suf_mask = torch.zeros(len(rows), S, dtype=torch.long, device=dev)
        for i, (_, suf, _, _) in enumerate(rows):
            ids[i, : len(suf)] = torch.tensor(suf, device=dev)
            suf_mask[i, : len(suf)] = 1
        owner = torch.tensor([r[0] for r in rows], device=dev)
        if cache is not None:
            cache.batch_select_indices(owner)
        mask = torch.cat([pre_mask[owner], suf_mask], 1)
        pos = (mask.cumsum(1) - 1).clamp(min=0)[:, P:]
        hidden = decoder(input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=cache, use_cache=cache is not None).last_hidden_state
        # gather only scored positions, then one LM-head matmul over all of them
        sel_r, sel_c, targets, spans = [], [], [], []
        for i, (bi, _, seq, st) in enumerate(rows):
            p = batch[bi][3]
            n = len(seq) - 1 - st
            spans.append((len(targets), n))
            sel_r += [i] * n
            sel_c += list(range(st - p, st - p + n))
            targets += seq[st + 1 :]
        logits = head(hidden[torch.tensor(sel_r, device=dev), torch.tensor(sel_c, device=dev)]).float()
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        logp = torch.log_softmax(logits, -1)
        tgt = torch.tensor(targets, device=dev)
        tok_lp = logp.gather(1, tgt[:, None])[:, 0].cpu()
        greedy = (logp.argmax(-1) == tgt).cpu()
        results: dict[int, list[Scored]] = {}
        for (bi, *_), (a, n) in zip(rows, spans):
            results.setdefault(batch[bi][0], []).append(Scored(float(tok_lp[a : a + n].sum()), bool(greedy[a : a + n].all()), n))
        return list(results.items())


class _StopOnText:
    """Stops a row once its decoded continuation contains a stop sequence.

    (transformers' ``stop_strings`` precomputes tables over the whole vocabulary
    on every call, which costs more than decoding a few short continuations.)
    """

    def __init__(self, tok, prompt_len: int, stop: Sequence[str]):
        self.tok, self.prompt_len, self.stop = tok, prompt_len, [s for s in stop if s]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        texts = self.tok.batch_decode(input_ids[:, self.prompt_len :], skip_special_tokens=True)
        return torch.tensor([any(s in t for s in self.stop) for t in texts], device=input_ids.device)


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """The text up to (not including) the earliest stop sequence."""
    cut = len(text)
    for s in stop:
        if s and (k := text.find(s)) != -1:
            cut = min(cut, k)
    return text[:cut]
