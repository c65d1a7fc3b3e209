"""Generate answers to a prompt set with a causal LM; ``mixwise generate MODEL --prompts SET``.

Prompts are wrapped in the model's chat format (:func:`mixwise.chat.render`
with a generation prompt), batched with left padding, and decoded greedily
(``temperature=0``) or by sampling with a recorded seed. Generation stops at
EOS or the end-of-turn marker. vLLM is used when it is installed and a GPU is
present (``backend="auto"``); transformers otherwise.

Output is JSONL, one record per prompt::

    {"id", "category", "prompt", "output", "generator", "n_tokens", "finish_reason", "settings": {...}}

where ``settings`` holds everything needed to reproduce the run (model, path,
backend, temperature, top_p, max_new_tokens, seed, batch size, chat format).

    python -m mixwise generate tiny-random --prompts lima_test --limit 4 --out gens.jsonl
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mixwise.chat import END_OF_TURN, ensure_chat_template, render
from mixwise.errors import InputError
from mixwise.evaluate.prompts import Prompt


@dataclass
class GenSettings:
    """How answers are generated; recorded in every output record."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    batch_size: int = 8
    backend: str = "auto"  # auto | transformers | vllm
    device: str | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0


@dataclass
class Completion:
    """One generated answer: text, generated-token count, why it stopped, prompt-token count."""

    text: str
    n_tokens: int
    finish_reason: str
    prompt_tokens: int = 0
    extra: dict = field(default_factory=dict)


def split_system(messages: list[dict]) -> tuple[list[dict], str | None]:
    """OpenAI-style messages -> (user/assistant turns, joined system prompt or None)."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system") or None
    return [m for m in messages if m["role"] != "system"], system


def chat_text(tokenizer, messages: list[dict]) -> str:
    """The chat-formatted prompt string, ending with the assistant's generation prompt."""
    turns, system = split_system(messages)
    return render(tokenizer, turns, system=system, add_generation_prompt=True)


def stop_token_ids(tokenizer) -> list[int]:
    """EOS plus the end-of-turn marker when the vocabulary has it as one token."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    eot = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    if isinstance(eot, int) and eot != tokenizer.unk_token_id:
        ids.add(eot)
    return sorted(ids)


def _add_special(tokenizer, texts: list[str]) -> bool:
    # The chat string has no BOS; let the tokenizer add it unless the template already did.
    bos = tokenizer.bos_token or ""
    return not (bos and all(t.startswith(bos) for t in texts))


def _encode(tokenizer, texts: list[str], device: str):
    return tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=_add_special(tokenizer, texts)).to(device)


def prompt_ids(tokenizer, text: str) -> list[int]:
    """The token ids of one chat-formatted prompt, as :func:`generate_chats` encodes it (no tensor)."""
    return tokenizer(text, add_special_tokens=_add_special(tokenizer, [text]))["input_ids"]


def generate_chats(model, tokenizer, chats: list[list[dict]], settings: GenSettings,
                   progress: Callable[[int], None] | None = None) -> list[Completion]:
    """Answers for OpenAI-style chats with a loaded transformers model, in order, batched."""
    import torch

    ensure_chat_template(tokenizer)
    tokenizer.padding_side = "left"  # decoder-only: pad on the left so every row ends at its prompt
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    stops = stop_token_ids(tokenizer)
    device = next(model.parameters()).device
    out: list[Completion] = []
    for start in range(0, len(chats), settings.batch_size):
        batch = [chat_text(tokenizer, c) for c in chats[start:start + settings.batch_size]]
        enc = _encode(tokenizer, batch, device)
        kwargs = dict(max_new_tokens=settings.max_new_tokens, eos_token_id=stops, pad_token_id=tokenizer.pad_token_id)
        if settings.greedy:
            kwargs.update(do_sample=False, top_p=None, top_k=None, temperature=None)
        else:
            torch.manual_seed(settings.seed + start)  # per-batch seed: reproducible for a given batch size
            kwargs.update(do_sample=True, temperature=settings.temperature, top_p=settings.top_p, top_k=0)
        with torch.no_grad():
            ids = model.generate(**enc, **kwargs)
        new = ids[:, enc["input_ids"].shape[1]:]
        for row, prompt_mask in zip(new.tolist(), enc["attention_mask"].tolist()):
            cut = next((i for i, t in enumerate(row) if t in stops), None)
            tokens = row if cut is None else row[:cut]
            reason = "stop" if cut is not None else ("length" if len(row) >= settings.max_new_tokens else "stop")
            text = tokenizer.decode(tokens, skip_special_tokens=True).strip()
            out.append(Completion(text, len(tokens), reason, int(sum(prompt_mask))))
        if progress:
            progress(len(out))
    return out


def _vllm_usable(settings: GenSettings) -> bool:
    if settings.backend == "transformers":
        return False
    try:
        import torch
        import vllm  # noqa: F401
    except ImportError:
        if settings.backend == "vllm":
            raise InputError("backend 'vllm' requested but vllm is not installed", "pip install vllm, or use --backend transformers")
        return False
    return torch.cuda.is_available() or settings.backend == "vllm"


def _generate_vllm(path: str, chats: list[list[dict]], settings: GenSettings) -> list[Completion]:
    """The same answers through vLLM (only when installed; never required)."""
    from transformers import AutoTokenizer
    from vllm import LLM, SamplingParams

    tok = AutoTokenizer.from_pretrained(path)
    llm = LLM(model=path, seed=settings.seed)
    params = SamplingParams(temperature=settings.temperature, top_p=settings.top_p, max_tokens=settings.max_new_tokens,
                            seed=settings.seed, stop_token_ids=stop_token_ids(tok), skip_special_tokens=True)
    results = llm.generate([chat_text(tok, c) for c in chats], params)
    return [Completion(r.outputs[0].text.strip(), len(r.outputs[0].token_ids), r.outputs[0].finish_reason or "stop",
                       len(r.prompt_token_ids)) for r in results]


def generate(model_name: str, prompts: list[Prompt], settings: GenSettings | None = None,
             progress: Callable[[int], None] | None = None) -> list[dict]:
    """Generation records (see module docstring) for every prompt, in order."""
    from mixwise.models import load_causal_lm, resolve_model_path

    settings = settings or GenSettings()
    path = resolve_model_path(model_name)
    chats = [[{"role": "user", "content": p.prompt}] for p in prompts]
    started = time.perf_counter()
    if _vllm_usable(settings):
        backend, completions, chat_format = "vllm", _generate_vllm(path, chats, settings), "model-or-default"
    else:
        model, tok = load_causal_lm(model_name, device=settings.device)
        chat_format = ensure_chat_template(tok)
        backend, completions = "transformers", generate_chats(model, tok, chats, settings, progress)
    record_settings = {**asdict(settings), "backend": backend, "model": model_name, "model_path": path,
                       "chat_format": chat_format, "seconds": round(time.perf_counter() - started, 2)}
    return [{"id": p.id, "category": p.category, "prompt": p.prompt, "output": c.text, "generator": model_name,
             "n_tokens": c.n_tokens, "finish_reason": c.finish_reason, "settings": record_settings}
            for p, c in zip(prompts, completions)]


def write_jsonl(records: list[dict], path: str | Path) -> Path:
    """Write records as JSONL (atomically: a partial file never looks finished)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    tmp.replace(path)
    return path


def read_generations(path: str | Path) -> list[dict]:
    """Generation records from a JSONL file (ours, or any with ``id``/``instruction``+``output``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such generations file: {path}", "generate first: mixwise generate MODEL --prompts SET --out FILE")
    text = path.read_text(encoding="utf-8")
    rows = json.loads(text) if path.suffix == ".json" else [json.loads(l) for l in text.splitlines() if l.strip()]
    for i, r in enumerate(rows):
        if "output" not in r:
            raise InputError(f"{path}: record {i} has no 'output'", "each record needs id (or instruction/prompt) and output")
        r.setdefault("prompt", r.get("instruction"))
        r.setdefault("id", r.get("prompt"))
        r.setdefault("generator", r.get("generator") or path.stem)
    return rows


def generations_for(spec: str, prompts: list[Prompt], settings: GenSettings, folder: str | Path,
                    progress: Callable[[int], None] | None = None) -> tuple[list[dict], Path]:
    """Answers for ``prompts`` from a generations file, or generated with model ``spec`` (reused when unchanged).

    A model's generations are kept in ``folder/<model>.jsonl``; they are reused
    when that file covers the same prompt ids with the same settings.
    """
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix in (".jsonl", ".json"):
        rows = read_generations(path)
        by_id, by_prompt = {str(r["id"]): r for r in rows}, {str(r.get("prompt")).strip(): r for r in rows}
        matched = []
        for p in prompts:  # match on id, else on the prompt text (e.g. AlpacaEval's reference outputs)
            r = by_id.get(p.id) or by_prompt.get(p.prompt.strip())
            if r is not None:
                matched.append({**r, "id": p.id, "category": p.category, "prompt": p.prompt})
        if not matched:
            raise InputError(f"{path} has no answers for these prompts (matched by id or prompt text)",
                             "generate on the same prompt set, or check --prompts")
        return matched, path
    from mixwise.evaluate.judge_report import slug

    out = Path(folder) / f"{slug(spec)}.jsonl"
    if out.is_file():
        old = read_generations(out)
        same = [r.get("id") for r in old] == [p.id for p in prompts] and all(
            {k: r.get("settings", {}).get(k) for k in ("max_new_tokens", "temperature", "top_p", "seed", "model")}
            == {**{k: getattr(settings, k) for k in ("max_new_tokens", "temperature", "top_p", "seed")}, "model": spec}
            for r in old)
        if same:
            return old, out
    rows = generate(spec, prompts, settings, progress)
    return rows, write_jsonl(rows, out)
