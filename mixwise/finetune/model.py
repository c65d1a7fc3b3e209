"""The model side of training: loading, residual dropout, LoRA, and the loss module.

Residual dropout (LIMA): dropout on the output of every residual branch (attention
and MLP) before it is added back, with a rate rising linearly from 0 at the
bottom layer to ``p`` at the top. It is attached with forward hooks, so the
architecture needs a recognisable branch end per decoder layer:

* Gemma 2/3 (sandwich norms): the outputs of ``post_attention_layernorm`` and
  ``post_feedforward_layernorm``, the last modules of each branch;
* Llama, Mistral, Qwen 2/3, Phi-3 and other ``self_attn`` + ``mlp`` layers
  without post-norms: the outputs of ``self_attn`` and ``mlp``.

Anything else (e.g. GPT-2 style blocks, state-space layers) gets no residual
dropout; :func:`add_residual_dropout` says so and the run record keeps it.

:class:`TrainedTokenLoss` computes the logits only at positions that have a
target (response tokens), which saves most of the vocabulary projection on long
prompts, in chunks whose gradients are formed on the spot
(:class:`ChunkedLinearCrossEntropy`), so rows x vocabulary logits never sit in
memory; it returns the *summed* loss so the loop can normalise by the number of
trained tokens in the whole optimizer step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mixwise.finetune.packing import IGNORE


def decoder_layers(model) -> list[nn.Module]:
    """The list of decoder layers of a transformers causal LM (or [] when not found)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    body = getattr(base, getattr(base, "base_model_prefix", "model"), None) or getattr(base, "model", None)
    layers = getattr(body, "layers", None)
    return list(layers) if layers is not None else []


def add_residual_dropout(model, p_top: float) -> dict:
    """Hook dropout rising linearly 0 -> ``p_top`` over the layers onto each residual branch; returns what was done."""
    layers = decoder_layers(model)
    if p_top <= 0:
        return {"applied": False, "reason": "residual_dropout is 0"}
    if not layers:
        return {"applied": False, "reason": f"{type(model).__name__}: no decoder layer list found"}
    first = layers[0]
    if hasattr(first, "post_attention_layernorm") and hasattr(first, "post_feedforward_layernorm"):
        names = ("post_attention_layernorm", "post_feedforward_layernorm")
    elif hasattr(first, "self_attn") and hasattr(first, "mlp"):
        names = ("self_attn", "mlp")
    else:
        return {"applied": False, "reason": f"{type(first).__name__}: residual branches not recognised"}
    n = len(layers)
    rates = [p_top * i / (n - 1) if n > 1 else p_top for i in range(n)]
    for layer, p in zip(layers, rates):
        if p == 0:
            continue
        for name in names:
            getattr(layer, name).register_forward_hook(_dropout_hook(p))
    return {"applied": True, "branch_ends": list(names), "rates": [round(r, 4) for r in rates]}


def _dropout_hook(p: float):
    def hook(module: nn.Module, args, output):
        if not module.training:
            return output
        if isinstance(output, tuple):  # attention modules return (hidden, weights)
            return (F.dropout(output[0], p, True),) + output[1:]
        return F.dropout(output, p, True)

    return hook


def add_lora(model, lora: dict):
    """Wrap the model with a peft LoRA adapter (``r``, ``alpha``, ``dropout``, ``target_modules``)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=int(lora.get("r", 16)), lora_alpha=int(lora.get("alpha", 32)),
                        lora_dropout=float(lora.get("dropout", 0.05)),
                        target_modules=lora.get("target_modules", "all-linear"), task_type="CAUSAL_LM")
    return get_peft_model(model, config)


#: logits held at once by the chunked loss (rows x vocabulary); 2**25 floats = 128 MiB in fp32
CHUNK_ELEMENTS = 2**25


class ChunkedLinearCrossEntropy(torch.autograd.Function):
    """Summed cross-entropy of ``hidden @ weight.T`` without keeping the logits.

    The projection runs over chunks of rows; each chunk's gradient (softmax minus
    one-hot) is turned into gradients for ``hidden`` and ``weight`` right away, so
    only one chunk of logits is ever alive and nothing of size rows x vocabulary
    is saved for backward. Same maths as ``F.cross_entropy(h @ W.T, t, reduction="sum")``
    (with Gemma-2-style final logit soft-capping when ``softcap`` is set).
    """

    @staticmethod
    def forward(ctx, hidden, weight, targets, softcap):
        n = hidden.shape[0]
        chunk = max(1, CHUNK_ELEMENTS // weight.shape[0])
        grad_h = torch.empty_like(hidden)
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        loss = torch.zeros((), dtype=torch.float32, device=hidden.device)
        for s in range(0, n, chunk):
            h, t = hidden[s:s + chunk], targets[s:s + chunk]
            logits = (h @ weight.t()).float()
            if softcap:
                capped = torch.tanh(logits / softcap)
                logits = capped * softcap
            lse = torch.logsumexp(logits, dim=-1)
            loss += (lse - logits.gather(1, t[:, None]).squeeze(1)).sum()
            g = torch.exp(logits - lse[:, None])  # softmax, in place of the logits
            del logits
            g[torch.arange(len(t), device=g.device), t] -= 1
            if softcap:
                g *= 1 - capped * capped
            g = g.to(h.dtype if h.dtype == weight.dtype else torch.promote_types(h.dtype, weight.dtype))
            grad_h[s:s + chunk] = (g @ weight).to(grad_h.dtype)
            grad_w += (g.t() @ h).float()
        ctx.save_for_backward(grad_h, grad_w)
        ctx.weight_dtype = weight.dtype
        return loss

    @staticmethod
    def backward(ctx, grad_out):
        grad_h, grad_w = ctx.saved_tensors
        return grad_h * grad_out.to(grad_h.dtype), (grad_w * grad_out).to(ctx.weight_dtype), None, None


class TrainedTokenLoss(nn.Module):
    """Wraps a causal LM: forward(batch tensors) -> (summed cross-entropy over targets, #targets).

    This is the module DDP/FSDP wrap, so gradient synchronisation sees the whole
    forward pass.
    """

    def __init__(self, model):
        super().__init__()
        self.model = model
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.softcap = getattr(base.config, "final_logit_softcapping", None)

    def _body_and_head(self):
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        return base.get_decoder(), base.get_output_embeddings()

    def forward(self, input_ids, position_ids, attention_mask, targets):
        body, head = self._body_and_head()
        hidden = body(input_ids=input_ids, position_ids=position_ids, attention_mask=attention_mask,
                      use_cache=False).last_hidden_state
        keep = targets != IGNORE
        if getattr(head, "bias", None) is not None or not torch.is_grad_enabled():
            logits = head(hidden[keep]).float()  # plain path: heads with a bias, and evaluation
            if self.softcap:
                logits = torch.tanh(logits / self.softcap) * self.softcap
            return F.cross_entropy(logits, targets[keep], reduction="sum"), keep.sum()
        weight = head.weight
        if hasattr(weight, "full_tensor"):  # FSDP2 may hand the head over as a sharded DTensor
            weight = weight.full_tensor()
        return ChunkedLinearCrossEntropy.apply(hidden[keep], weight, targets[keep], self.softcap), keep.sum()


def count_parameters(model) -> tuple[int, int]:
    """(all parameters, trainable parameters)."""
    total = sum(p.numel() for p in model.parameters())
    return total, sum(p.numel() for p in model.parameters() if p.requires_grad)
