"""Training from a manifest: the loss falls, resume is exact, two gloo processes agree, LoRA, Gemma smoke."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from mixwise.finetune.train import train
from tests.conftest import REPO
from tests.finetune_helpers import rows_from_pairs, toy_pairs, write_manifest

# small batches of short texts: a few seconds per step with Gemma's 262k vocabulary on 2 CPU cores
FAST = {"max_length": 64, "packing": False, "batch_size": 4, "micro_batch_size": 2, "lr": 3e-3, "lr_end": 3e-4,
        "residual_dropout": 0.0}


@pytest.fixture()
def manifest(tmp_path):
    return write_manifest(tmp_path / "manifests", "toy", rows_from_pairs(toy_pairs(8)))


def weights(run_dir):
    return load_file(run_dir / "checkpoint" / "model.safetensors")


def test_loss_falls_and_the_run_is_recorded(manifest, tmp_path):
    res = train(manifest, "tiny-random", recipe="quick", overrides={**FAST, "epochs": 3, "batch_size": 8, "micro_batch_size": 4},
                out=tmp_path / "runs", run_name="r1")
    curve = [p["loss"] for p in res.record["loss_curve"]]
    assert len(curve) == 3 and curve[-1] < curve[0] - 0.2, curve
    record = json.loads((res.run_dir / "run.json").read_text())
    assert record["manifest"] == {"name": "toy", "version": manifest.name, "path": str(manifest), "rows": 8}
    assert record["data"]["masking"]["per_source"].keys() == {"chat", "facts"}
    assert record["throughput"]["trained_tokens_per_s"] > 0 and record["software"]["torch"] == torch.__version__
    assert record["recipe"]["lr"] == 3e-3 and record["final_checkpoint"] == "checkpoint"
    from mixwise.models import resolve_model_path

    assert resolve_model_path(str(res.run_dir)) == str(res.run_dir / "checkpoint")  # eval can load the run


def test_resume_matches_an_uninterrupted_run(manifest, tmp_path):
    # dropout on, shuffling on, 2 steps per epoch and gradient accumulation: every piece of state matters
    cfg = {**FAST, "residual_dropout": 0.2, "save_every_steps": 2}
    full = train(manifest, "tiny-random", recipe="quick", overrides={**cfg, "epochs": 2}, out=tmp_path / "runs", run_name="full")
    resumed = train(manifest, "tiny-random", recipe="quick", overrides={**cfg, "epochs": 2}, out=tmp_path / "runs",
                    run_name="resumed", resume=full.run_dir / "checkpoint-step-2")
    a = [p["loss"] for p in full.record["loss_curve"]]
    b = [p["loss"] for p in resumed.record["loss_curve"]]
    assert len(a) == 4 and a == b, (a, b)  # steps 1-2 come from the checkpoint, 3-4 were recomputed
    wa, wb = weights(full.run_dir), weights(resumed.run_dir)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The single-process reference run for the multi-process tests."""
    tmp = tmp_path_factory.mktemp("one")
    folder = write_manifest(tmp / "manifests", "toy", rows_from_pairs(toy_pairs(8)))
    res = train(folder, "tiny-random", recipe="quick", overrides={**FAST, "epochs": 1, "shuffle": False},
                out=tmp / "runs", run_name="one", device="cpu")
    return folder, res


@pytest.mark.parametrize("strategy", ["ddp", pytest.param("fsdp", marks=pytest.mark.slow)])
def test_two_gloo_processes_agree_with_one(one_process, tmp_path, strategy):
    manifest, one = one_process
    sets = [f"{k}={json.dumps(v)}" for k, v in {**FAST, "epochs": 1, "shuffle": False, "strategy": strategy}.items()]
    args = [str(manifest), "--model", "tiny-random", "--recipe", "quick", "--device", "cpu", "--out", str(tmp_path / "runs")]
    for s in sets:
        args += ["--set", s]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    port = str(29517 + (strategy == "fsdp"))
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port,
                           "-m", "mixwise", "train", *args, "--run-name", strategy], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rec = json.loads((tmp_path / "runs" / strategy / "run.json").read_text())
    assert rec["hardware"]["world_size"] == 2 and len(rec["loss_curve"]) == len(one.record["loss_curve"]) == 2
    for p, q in zip(rec["loss_curve"], one.record["loss_curve"]):
        assert p["loss"] == pytest.approx(q["loss"], rel=1e-5) and p["trained_tokens"] == q["trained_tokens"]
    wa, wb = weights(tmp_path / "runs" / strategy), weights(one.run_dir)
    assert wa.keys() == wb.keys() and all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)


def test_residual_dropout_rises_over_layers():
    from mixwise.finetune.model import add_residual_dropout
    from mixwise.models import load_causal_lm

    model, _ = load_causal_lm("tiny-random", device="cpu")
    info = add_residual_dropout(model, 0.3)
    assert info["applied"] and info["rates"] == [0.0, 0.3] and info["branch_ends"][0] == "post_attention_layernorm"
    ids = torch.tensor([[2, 100, 200, 300, 400]])
    with torch.no_grad():
        model.eval()
        assert torch.equal(model(ids).logits, model(ids).logits)
        model.train()
        assert not torch.equal(model(ids).logits, model(ids).logits)


def test_cli_trains_with_lora_and_checkpointing_from_a_manifest_name(cli, tmp_path):
    write_manifest(os.environ["MIXWISE_MANIFESTS"], "toy", rows_from_pairs(toy_pairs(8)))
    res = cli("train", "toy", "--model", "tiny-random", "--recipe", "quick", "--max-steps", "2", "--out", str(tmp_path / "runs"),
              "--run-name", "lora", "--set", "lora={r: 4, alpha: 8, target_modules: all-linear}", "--set", "max_length=64",
              "--set", "batch_size=4", "--set", "packing=false", "--set", "gradient_checkpointing=true",
              "--set", "epochs=2", "--set", "save_epochs=[1]", "--json")
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    assert rec["steps"] == 2 and rec["model"]["trainable_parameters"] < rec["model"]["parameters"] / 10
    run = tmp_path / "runs" / "lora"
    assert (run / "checkpoint" / "adapter" / "adapter_config.json").is_file()
    assert (run / "checkpoint-epoch-1" / "adapter" / "adapter_config.json").is_file()  # save_epochs
    assert (run / "checkpoint" / "trainer_state.pt").is_file()  # stopped by --max-steps: resumable
    from mixwise.models import load_causal_lm

    model, _ = load_causal_lm(str(run), device="cpu")  # the final checkpoint is a merged, plain model
    assert not any("lora" in n for n, _ in model.named_parameters())


@pytest.mark.slow
def test_gemma3_270m_smoke(tmp_path):
    """Load Gemma 3 270M, train two steps, save, reload, and check the weights moved."""
    from mixwise.models import load_causal_lm, resolve_model_path

    folder = write_manifest(tmp_path / "manifests", "toy", rows_from_pairs(toy_pairs(4)))
    # 4 samples, batch 2, one epoch: two steps, and a completed run saves weights only
    res = train(folder, "gemma3-270m", recipe="lima", out=tmp_path / "runs", run_name="g",
                overrides={"max_length": 48, "batch_size": 2, "micro_batch_size": 2, "small_batch_size": None, "lr": 1e-4,
                           "epochs": 1, "save_epochs": []})
    rec = res.record
    assert rec["model"]["residual_dropout"]["rates"][-1] == pytest.approx(0.2) and len(rec["loss_curve"]) == 2
    assert all(0 < p["loss"] < 20 for p in rec["loss_curve"])
    trained = load_file(res.run_dir / "checkpoint" / "model.safetensors")
    base = load_file(os.path.join(resolve_model_path("gemma3-270m"), "model.safetensors"))
    key = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(trained[key], base[key])
    model, tok = load_causal_lm(str(res.run_dir), device="cpu")
    assert torch.equal(model.state_dict()[key], trained[key])
    assert not (res.run_dir / "checkpoint" / "trainer_state.pt").exists()
    out = model.generate(**tok("<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n", return_tensors="pt"),
                         max_new_tokens=3, do_sample=False)
    assert out.shape[1] > 3


def test_checkpointing_recomputes_without_changing_gradients():
    """enable_checkpointing turns recomputation on (by either transformers name) and leaves the gradients as they were."""
    import warnings

    from mixwise.finetune.train import enable_checkpointing
    from mixwise.models import load_causal_lm

    grads = []
    for checkpointed in (False, True):
        torch.manual_seed(0)
        model, _ = load_causal_lm("tiny-random", device="cpu")
        model.train()
        if checkpointed:
            with warnings.catch_warnings():
                warnings.simplefilter("error", FutureWarning)  # no deprecated name on the way
                enable_checkpointing(model)
            flag = getattr(model, "is_activation_checkpointing", None)
            assert flag if flag is not None else model.is_gradient_checkpointing
        ids = torch.arange(2, 34).reshape(2, 16)
        model(ids, labels=ids).loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    assert torch.allclose(grads[0], grads[1], atol=1e-5)
