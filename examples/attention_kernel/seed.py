"""Seed solution for the attention example: plain PyTorch with materialized scores.

The evolving file must expose ``attention(q, k, v, causal) -> o`` for tensors of
shape (batch, heads, seq, head_dim) in bfloat16 (float16 accepted); ``k`` and
``v`` may have fewer heads than ``q`` (grouped-query attention, query head ``h``
uses KV head ``h // (heads // kv_heads)``). Causal masking is top-left aligned:
query ``i`` sees keys ``0..i``. The output is a new tensor shaped like ``q``.

This is the textbook algorithm, kept deliberately simple: it materializes the
full (seq x seq) score matrix in float32. It loops over batch and heads so that
the score matrix of one head at a time fits in memory even at 32k tokens.
"""

import math

import torch


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
    """softmax(q kᵀ / sqrt(d)) v, one (batch, head) at a time."""
    batch, heads, seq, head_dim = q.shape
    group = heads // k.shape[1]
    k = k.repeat_interleave(group, dim=1)
    v = v.repeat_interleave(group, dim=1)
    scale = 1.0 / math.sqrt(head_dim)
    masked = torch.ones(seq, seq, dtype=torch.bool, device=q.device).triu(1) if causal else None
    out = torch.empty_like(q)
    for b in range(batch):
        for h in range(heads):
            scores = (q[b, h] @ k[b, h].transpose(0, 1)).float() * scale
            if masked is not None:
                scores.masked_fill_(masked, float("-inf"))
            probabilities = torch.softmax(scores, dim=-1).to(q.dtype)
            out[b, h] = probabilities @ v[b, h]
    return out
