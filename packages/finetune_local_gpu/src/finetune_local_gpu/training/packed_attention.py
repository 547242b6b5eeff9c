"""Attention over packed examples, one example at a time: the CPU's answer to flash attention's varlen kernels.

With padding-free batches (and packing), trl's padding-free collator lays a step's examples end to end in
one row, position ids restarting at 0 for each, and gives their boundaries (`cu_seq_lens_q`). Under `sdpa`,
transformers keeps the examples apart with a block-diagonal causal mask over the whole row: exact, but SDPA
then computes the full row x row scores and throws most of them away (on the embedded 135M model, rows of
~1,000 tokens holding examples of ~80 trained 1.2x faster per token on one CPU core with this module than with
the masked row). `packed_sdpa` runs SDPA on each example's slice with `is_causal` and no mask instead: the same
result (each query sees its own example's earlier tokens, nothing else), the work of the examples alone, and
the fused causal kernel rather than a masked one.

Anything not packed (no boundaries given: padded batches, DPO, generation with a cache) goes to transformers'
own `sdpa` unchanged. A batch whose examples share a prefix laid out once (`padding_free.SHARED_PREFIX`
given) has it as its first span: each later span attends to the prefix's keys, then causally to its own.

Used only where every layer attends over its whole example (`full_attention`): a sliding
window or chunked layer would need its window inside each slice.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from finetune_local_gpu.training.padding_free import SHARED_PREFIX

PACKED_SDPA = "finetune_packed_sdpa"
FULL_ATTENTION_LAYERS = frozenset({"full_attention"})


def packed_sdpa_forward(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, dropout: float = 0.0,
                        scaling: float | None = None, is_causal: bool | None = None, **kwargs: Any) -> tuple[Any, None]:
    """transformers' attention-function signature: query/key/value (batch, heads, seq, dim) → (batch, seq, heads,
    dim). Per example when the batch is one packed row with its boundaries and no cache; `sdpa` otherwise."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    bounds = kwargs.pop("cu_seq_lens_q", None)
    kwargs.pop("cu_seq_lens_k", None)
    shared = int(kwargs.pop(SHARED_PREFIX, 0) or 0)
    packed = (bounds is not None and query.shape[0] == 1 and query.shape[2] == key.shape[2]
              and kwargs.get("position_bias") is None and is_causal is not False)
    edges = [int(edge) for edge in bounds.tolist()] if packed else []
    if not packed or edges[-1] != query.shape[2]:  # not one packed row covered by its boundaries: sdpa's
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    spans = [(start, end) for start, end in pairwise(edges) if end > start]
    pieces = []
    for index, (start, end) in enumerate(spans):
        if shared and index > 0:  # after the shared prefix: its keys, then this example's own, causally
            length = end - start
            keys = torch.cat([key[:, :, :shared], key[:, :, start:end]], dim=2)
            values = torch.cat([value[:, :, :shared], value[:, :, start:end]], dim=2)
            mask = torch.ones(length, shared + length, dtype=torch.bool, device=query.device)
            mask[:, shared:] = torch.ones(length, length, dtype=torch.bool, device=query.device).tril()
            pieces.append(sdpa_attention_forward(module, query[:, :, start:end], keys, values, mask[None, None],
                                                 dropout=dropout, scaling=scaling, is_causal=False, **kwargs)[0])
        else:
            pieces.append(sdpa_attention_forward(module, query[:, :, start:end], key[:, :, start:end],
                                                 value[:, :, start:end], None, dropout=dropout, scaling=scaling,
                                                 is_causal=True, **kwargs)[0])
    return torch.cat(pieces, dim=1), None


def register() -> str:
    """Make `packed_sdpa` a named attention implementation (idempotent); its name."""
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import sdpa_mask

    AttentionInterface.register(PACKED_SDPA, packed_sdpa_forward)
    # the masks are sdpa's: what an unpacked batch needs; a packed one ignores its block-diagonal mask
    AttentionMaskInterface.register(PACKED_SDPA, sdpa_mask)
    return PACKED_SDPA


def splits_examples(model: Any) -> bool:
    """Whether `packed_sdpa` computes this model's attention exactly: sdpa now, every layer full attention."""
    config = model.config
    layer_types = getattr(config, "layer_types", None) or ()
    return (getattr(config, "_attn_implementation", None) == "sdpa"
            and getattr(config, "sliding_window", None) is None
            and all(kind in FULL_ATTENTION_LAYERS for kind in layer_types))


def use_packed_sdpa(model: Any) -> bool:
    """Switch the model to `packed_sdpa` where it is exact (see `splits_examples`); whether it was."""
    if not splits_examples(model):
        return False
    model.set_attn_implementation(register())
    return True
