"""``mixwise train``: finetune a causal LM on a manifest. One linear loop: setup -> train -> save -> cleanup.

    mixwise train MANIFEST --model gemma3-270m --recipe lima
    mixwise train MANIFEST --model tiny-random --recipe quick --max-steps 20      # CPU, seconds

:func:`setup` reads the manifest (never the workspace), the recipe and the model;
tokenizes with a response-only loss mask and audits it; builds the sequence plan
(packed or not), the optimizer and the schedule (a :class:`TrainSetup`).
:func:`run_loop` runs the steps, :func:`save_run` saves the final checkpoint and
writes the run record (:class:`mixwise.records.RunRecord`), :func:`cleanup`
releases the devices; :func:`train` is the four in a row. Training is AdamW
with a linear schedule, gradient accumulation up to the recipe's batch, bf16
autocast on GPU, optional gradient checkpointing and LoRA, and residual dropout. Checkpoints at chosen epochs (and every N steps) resume
exactly. The run record ``runs/<run>/run.json`` ties the checkpoint to the exact
mixture.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from mixwise.errors import MixwiseError
from mixwise.finetune import checkpoint, distributed
from mixwise.finetune.data import Tokenized, audit, load_rows, tokenize
from mixwise.finetune.model import TrainedTokenLoss, add_lora, add_residual_dropout, count_parameters, decoder_layers
from mixwise.finetune.packing import build_sequences, collate, epoch_order, step_micro_batches, steps_per_epoch
from mixwise.finetune.recipe import Recipe, load_recipe, resolve_for_model
from mixwise.finetune.record import git_commit, hardware, peak_memory_mib, software_versions
from mixwise.records import RUN_FILE, LossPoint, Manifest, ManifestRef, MaskingAudit, ModelInfo, RunData, RunRecord, Throughput
from mixwise.records.base import build_part
from mixwise.workspace import now_iso


#: recipe keys that may change between a run and its resumption (they do not change the math)
RESUME_FREE = {"save_epochs", "save_every_steps", "log_every"}


def load_model(name: str, *, resume_from: Path | None, recipe: Recipe, device: str):
    """(model, tokenizer, resolved path) in train mode; from a checkpoint when resuming a full finetune."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mixwise.models import resolve_model_path

    full_resume = resume_from is not None and recipe.lora is None
    path = str(resume_from) if full_resume else resolve_model_path(name)
    try:
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation=recipe.attn_implementation)
    except (OSError, ValueError) as e:
        raise MixwiseError(f"cannot load model {name!r}: {str(e).splitlines()[0]}", "check the name; offline, pass a local folder or an alias") from e
    return model, tok, path


def lr_lambda(recipe: Recipe, total_steps: int) -> Callable[[int], float]:
    """Warmup, then linear decay from lr to lr_end over the run (LIMA: no warmup, 1e-5 -> 1e-6)."""
    end = recipe.lr_end / recipe.lr

    def f(step: int) -> float:
        if step < recipe.warmup_steps:
            return (step + 1) / recipe.warmup_steps
        span = max(total_steps - recipe.warmup_steps, 1)
        return end + (1 - end) * max(0.0, 1 - (step - recipe.warmup_steps) / span)

    return f


def make_optimizer(model, recipe: Recipe, device: str) -> torch.optim.Optimizer:
    """AdamW; weight decay on matrices only (not on norms and biases), as transformers' Trainer does."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": recipe.weight_decay},
              {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=recipe.lr, betas=tuple(recipe.betas), fused=device.startswith("cuda"))



def enable_checkpointing(model) -> None:
    """Recompute activations in the backward pass (non-reentrant), by whichever name this transformers has."""
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x renamed it; the old name warns
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


@dataclass
class TrainState:
    """What the loop advances and a checkpoint saves: the global step, the loss curve, the checkpoints written."""

    step: int = 0
    curve: list[dict] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)


@dataclass
class TrainSetup:
    """Everything :func:`run_loop` and :func:`save_run` need, made by :func:`setup`."""

    dist: distributed.Dist
    device: str
    started_at: str
    setup_seconds: float
    manifest: Manifest
    rows: int
    recipe_source: str
    overrides: dict
    recipe: Recipe
    max_steps: int | None
    model_name: str
    model_path: str
    model: Any
    tokenizer: Any
    wrapped: Any
    fsdp: bool
    dropout: dict
    n_params: int
    n_trainable: int
    data: Tokenized
    masking: dict
    seqs: list
    seq_trained: list[int]
    steps_per_epoch: int
    total_steps: int
    stop_step: int
    optimizer: torch.optim.Optimizer
    scheduler: Any
    use_bf16: bool
    run_dir: Path
    resume_dir: Path | None
    pad_id: int
    state: TrainState


@dataclass
class LoopStats:
    """What the loop measured: step time and tokens seen."""

    seconds: float = 0.0
    tokens: float = 0.0
    trained_tokens: float = 0.0


@dataclass
class TrainResult:
    """A finished run: its folder and its record (``run.json``)."""

    run_dir: Path
    run: RunRecord

    @property
    def record(self) -> dict:
        """The run record as plain data, exactly what ``run.json`` holds."""
        return self.run.to_dict()


def setup(manifest: str | Path, model_name: str, *, recipe: str = "lima", overrides: dict | None = None,
          max_steps: int | None = None, out: str | Path = "runs", run_name: str | None = None,
          resume: str | Path | None = None, device: str | None = None, manifests_root: str | None = None) -> TrainSetup:
    """Read the manifest, recipe and model; tokenize, mask and audit; build sequences, optimizer and schedule; resume state."""
    from mixwise.mixing.refs import resolve_manifest

    d, device = distributed.setup(device)
    started_at, t_setup = now_iso(), time.perf_counter()
    man = Manifest.read(resolve_manifest(str(manifest), manifests_root))
    rows = load_rows(man)
    base_recipe = load_recipe(recipe, overrides)
    resume_dir = checkpoint.find(resume) if resume else None
    state = checkpoint.load_state(resume_dir) if resume_dir else None
    model, tok, model_path = load_model(model_name, resume_from=resume_dir, recipe=base_recipe, device=device)
    torch.manual_seed(base_recipe.seed)
    random.seed(base_recipe.seed)
    np.random.seed(base_recipe.seed)

    r = resolve_for_model(base_recipe, count_parameters(model)[0])
    data = tokenize(rows, tok, max_length=r.max_length)
    masking = audit(data)  # raises when no response token would be trained
    if data.added_tokens:  # turn markers new to this tokenizer: give them embeddings
        model.resize_token_embeddings(len(tok))
    dropout = add_residual_dropout(model, r.residual_dropout)
    if r.gradient_checkpointing:
        enable_checkpointing(model)
    if r.lora is not None:
        model = add_lora(model, r.lora)
        if resume_dir is not None:
            from peft import set_peft_model_state_dict
            from safetensors.torch import load_file

            set_peft_model_state_dict(model, load_file(resume_dir / "adapter" / "adapter_model.safetensors"))
    model.to(device).train()
    n_params, n_trainable = count_parameters(model)
    wrapped = distributed.wrap(TrainedTokenLoss(model), decoder_layers(model), d, r.strategy, device)
    fsdp = d.enabled and r.strategy == "fsdp"

    seqs = build_sequences(data, max_length=r.max_length, packing=r.packing)
    seq_trained = [sum(int(data.trained[i][1:].sum()) for i in s) for s in seqs]
    spe = steps_per_epoch(len(seqs), r.batch_size)
    total_steps = r.epochs * spe
    stop_step = min(total_steps, max_steps) if max_steps else total_steps
    optimizer = make_optimizer(model, r, device)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(r, total_steps))
    use_bf16 = r.bf16 == "true" or (r.bf16 == "auto" and device.startswith("cuda"))

    progress = TrainState()
    if state is not None:
        same = lambda rec: {k: v for k, v in rec.items() if k not in RESUME_FREE}  # noqa: E731
        if same(state["recipe"]) != same(r.to_dict()):
            raise MixwiseError(f"checkpoint {resume_dir} was trained with a different recipe", "resume with the same --recipe and --set values")
        if fsdp:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

            set_optimizer_state_dict(model, optimizer, state["optimizer"], options=StateDictOptions(full_state_dict=True))
        else:
            optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        # checkpoints of the first release did not list earlier checkpoints
        progress = TrainState(state["global_step"], state["loss_curve"], state["checkpoints"] if "checkpoints" in state else [])
        checkpoint.set_rng_state(state["rng"][d.rank] if isinstance(state["rng"], list) else state["rng"])

    run_dir = Path(out) / (run_name or (resume_dir.parent.name if resume_dir else _default_run_name(man, model_name)))
    if d.main:
        run_dir.mkdir(parents=True, exist_ok=True)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    return TrainSetup(
        dist=d, device=device, started_at=started_at, setup_seconds=time.perf_counter() - t_setup, manifest=man,
        rows=rows.height, recipe_source=recipe, overrides=overrides or {}, recipe=r, max_steps=max_steps,
        model_name=model_name, model_path=model_path, model=model, tokenizer=tok, wrapped=wrapped, fsdp=fsdp, dropout=dropout,
        n_params=n_params, n_trainable=n_trainable, data=data, masking=masking, seqs=seqs, seq_trained=seq_trained,
        steps_per_epoch=spe, total_steps=total_steps, stop_step=stop_step, optimizer=optimizer, scheduler=scheduler,
        use_bf16=use_bf16, run_dir=run_dir, resume_dir=resume_dir, pad_id=pad_id, state=progress)


def save_checkpoint(s: TrainSetup, folder: Path, final: bool = False) -> None:
    """Write a checkpoint: weights (+ the state to resume exactly, unless this is the end of a finished run)."""
    d, st = s.dist, s.state
    if final and st.step >= s.total_steps:  # a finished run: weights only (no 2x-model optimizer state to resume from)
        checkpoint.save(folder, model=s.model, tokenizer=s.tokenizer, state=None, main=d.main,
                        full_state=checkpoint.model_state(s.model, s.fsdp), merge_lora=True)
        st.checkpoints.append(folder.name)
        distributed.barrier(d)
        return
    rngs = [checkpoint.rng_state()]
    if d.enabled:  # every rank's dropout RNG, so each resumes its own stream
        gathered = [None] * d.world_size
        torch.distributed.all_gather_object(gathered, rngs[0])
        rngs = gathered
    state = {"global_step": st.step, "recipe": s.recipe.to_dict(), "loss_curve": st.curve,
             "checkpoints": st.checkpoints + [folder.name], "optimizer": checkpoint.optimizer_state(s.model, s.optimizer, s.fsdp),
             "scheduler": s.scheduler.state_dict(), "rng": rngs}
    checkpoint.save(folder, model=s.model, tokenizer=s.tokenizer, state=state, main=d.main,
                    full_state=checkpoint.model_state(s.model, s.fsdp), merge_lora=final)
    st.checkpoints.append(folder.name)
    distributed.barrier(d)


def run_loop(s: TrainSetup, on_step: Callable[[dict], None] | None = None) -> LoopStats:
    """Optimizer steps from ``s.state.step`` to ``s.stop_step``, checkpointing as the recipe says."""
    r, d, device, st = s.recipe, s.dist, s.device, s.state
    spe = s.steps_per_epoch
    autocast = lambda: torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=s.use_bf16)  # noqa: E731
    stats = LoopStats()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    while st.step < s.stop_step:
        t0 = time.perf_counter()
        epoch, in_epoch = divmod(st.step, spe)
        order = epoch_order(len(s.seqs), epoch=epoch, seed=r.seed, shuffle=r.shuffle)
        micro = step_micro_batches(order, in_epoch, batch_size=r.batch_size, micro_batch_size=r.micro_batch_size,
                                   rank=d.rank, world_size=d.world_size)
        step_targets = sum(s.seq_trained[j] for j in order[in_epoch * r.batch_size:(in_epoch + 1) * r.batch_size])
        loss_sum, tokens, trained = torch.zeros((), device=device), 0, 0
        for i, mb in enumerate(micro):
            idle = mb is None  # an empty slot on this rank: a zero-weight pass keeps DDP's all-reduce in step
            batch = collate(s.data, [s.seqs[j] for j in (mb or [order[0]])], pad_id=s.pad_id, packed=r.packing).to(device)
            with distributed.no_sync(s.wrapped, last=i == len(micro) - 1), autocast():
                loss, _ = s.wrapped(batch.input_ids, batch.position_ids, batch.attention_mask, batch.targets)
            (loss * (0.0 if idle else d.world_size / max(step_targets, 1))).backward()
            if not idle:
                loss_sum, tokens, trained = loss_sum + loss.detach().float(), tokens + batch.tokens, trained + batch.trained
        grad_norm = None
        if r.max_grad_norm:
            grad_norm = float(torch.nn.utils.clip_grad_norm_([p for p in s.model.parameters() if p.requires_grad], r.max_grad_norm))
        lr = s.scheduler.get_last_lr()[0]
        s.optimizer.step()
        s.scheduler.step()
        s.optimizer.zero_grad(set_to_none=True)
        st.step += 1
        loss_sum, tokens, trained = (distributed.all_sum(v, d, device) for v in (loss_sum.item(), tokens, trained))  # one sync per step
        stats.seconds += time.perf_counter() - t0
        stats.tokens, stats.trained_tokens = stats.tokens + tokens, stats.trained_tokens + trained
        point = {"step": st.step, "epoch": round(st.step / spe, 4), "loss": round(loss_sum / max(step_targets, 1), 6), "lr": lr,
                 "tokens": int(tokens), "trained_tokens": int(trained), "grad_norm": grad_norm}
        st.curve.append(point)
        if on_step and d.main and (st.step % r.log_every == 0 or st.step == s.stop_step):
            on_step({**point, "total_steps": s.stop_step})
        if st.step % spe == 0 and st.step // spe in r.save_epochs:
            save_checkpoint(s, s.run_dir / f"checkpoint-epoch-{st.step // spe}")
        elif r.save_every_steps and st.step % r.save_every_steps == 0 and st.step < s.stop_step:
            save_checkpoint(s, s.run_dir / f"checkpoint-step-{st.step}")
    return stats


def save_run(s: TrainSetup, stats: LoopStats) -> TrainResult:
    """Save the final checkpoint and write the run record ``run.json`` beside it."""
    peak = peak_memory_mib(s.device)
    save_checkpoint(s, s.run_dir / "checkpoint", final=True)
    st, r, man = s.state, s.recipe, s.manifest
    seconds = max(stats.seconds, 1e-9)
    source = f"{s.run_dir / RUN_FILE} (being written)"
    record = RunRecord(
        schema_version=RunRecord.SCHEMA_VERSION, run=s.run_dir.name, started_at=s.started_at, finished_at=now_iso(),
        manifest=ManifestRef(name=man.name, version=man.version, path=str(man.folder), rows=s.rows),
        model=ModelInfo(name=s.model_name, path=s.model_path, parameters=s.n_params, trainable_parameters=s.n_trainable,
                        attn_implementation=r.attn_implementation, residual_dropout=s.dropout),
        recipe_source=s.recipe_source, overrides=s.overrides, recipe=r.to_dict(), max_steps=s.max_steps,
        resumed_from=str(s.resume_dir) if s.resume_dir else None,
        data=RunData(sequences=len(s.seqs), packing=r.packing, steps_per_epoch=s.steps_per_epoch, total_steps=s.total_steps,
                     masking=build_part(MaskingAudit, s.masking, source=source)),
        steps=st.step, epochs_completed=round(st.step / s.steps_per_epoch, 4),
        final_loss=st.curve[-1]["loss"] if st.curve else None,
        throughput=Throughput(seconds=round(stats.seconds, 3), setup_seconds=round(s.setup_seconds, 3),
                              tokens_per_s=round(stats.tokens / seconds, 1),
                              trained_tokens_per_s=round(stats.trained_tokens / seconds, 1),
                              tokens=int(stats.tokens), trained_tokens=int(stats.trained_tokens), peak_memory_mib=peak,
                              bf16_autocast=s.use_bf16),
        loss_curve=[build_part(LossPoint, p, source=source) for p in st.curve], checkpoints=list(st.checkpoints),
        final_checkpoint="checkpoint", software=software_versions(), git=git_commit(),
        hardware=hardware(s.device, s.dist.world_size),
    )
    if s.dist.main:
        record.write(s.run_dir / RUN_FILE)
    return TrainResult(s.run_dir, record)


def cleanup(s: TrainSetup) -> None:
    """Leave the process group and free the accelerator's memory."""
    distributed.cleanup(s.dist)
    s.wrapped = s.model = s.optimizer = None
    if s.device.startswith("cuda"):
        torch.cuda.empty_cache()


def train(manifest: str | Path, model_name: str, *, recipe: str = "lima", overrides: dict | None = None,
          max_steps: int | None = None, out: str | Path = "runs", run_name: str | None = None,
          resume: str | Path | None = None, device: str | None = None, manifests_root: str | None = None,
          on_step: Callable[[dict], None] | None = None) -> TrainResult:
    """Train ``model_name`` on the manifest ``manifest`` (NAME, NAME@VERSION or a path); returns the run."""
    s = setup(manifest, model_name, recipe=recipe, overrides=overrides, max_steps=max_steps, out=out, run_name=run_name,
              resume=resume, device=device, manifests_root=manifests_root)
    stats = run_loop(s, on_step)
    result = save_run(s, stats)
    cleanup(s)
    return result


def _default_run_name(man, model_name: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    short = Path(model_name).name.replace("/", "-")
    return f"{man.name}-{man.version[:8]}-{short}-{stamp}"


def check(manifest: str | Path | None, model_name: str | None, *, recipe: str = "lima", overrides: dict | None = None,
          manifests_root: str | None = None) -> dict:
    """Validate a recipe; with a manifest and model, also tokenize and run the masking audit. Trains nothing."""
    r = load_recipe(recipe, overrides)
    out: dict = {"recipe": r.to_dict()}
    if manifest is None or model_name is None:
        return out
    from transformers import AutoTokenizer

    from mixwise.mixing.refs import resolve_manifest
    from mixwise.models import resolve_model_path

    man = Manifest.read(resolve_manifest(str(manifest), manifests_root))
    rows = load_rows(man)
    tok = AutoTokenizer.from_pretrained(resolve_model_path(model_name))
    data = tokenize(rows, tok, max_length=r.max_length)
    seqs = build_sequences(data, max_length=r.max_length, packing=r.packing)
    out.update(manifest={"name": man.name, "version": man.version, "rows": rows.height}, masking=audit(data),
               sequences=len(seqs), steps_per_epoch=steps_per_epoch(len(seqs), r.batch_size),
               note=f"batch_size here is before small-model adjustment (small_batch_size={r.small_batch_size})")
    return out


