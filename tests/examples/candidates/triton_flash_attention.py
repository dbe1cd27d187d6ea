"""A FlashAttention-style forward kernel in Triton: the scorer's known-good Triton candidate.

Online softmax over key blocks, causal block skipping, GQA through the KV-head
index, masks for sequence lengths that are not multiples of the tile size. On a
host without a GPU the scorer sets TRITON_INTERPRET=1 before importing it, so the
same file exercises the interpreter path in the tests and the compiled path on
a GPU.
"""

import math

import torch
import triton
import triton.language as tl


@triton.jit
def _forward(
    Q, K, V, O,
    stride_qb, stride_qh, stride_qs,
    stride_kb, stride_kh, stride_ks,
    heads, group, seq, scale,
    CAUSAL: tl.constexpr, BLOCK: tl.constexpr, HEAD_DIM: tl.constexpr,
):
    block_m = tl.program_id(0)
    batch_head = tl.program_id(1)
    batch, head = batch_head // heads, batch_head % heads
    rows = block_m * BLOCK + tl.arange(0, BLOCK)
    cols = tl.arange(0, BLOCK)
    dims = tl.arange(0, HEAD_DIM)
    q_offsets = batch * stride_qb + head * stride_qh + rows[:, None] * stride_qs + dims[None, :]
    q = tl.load(Q + q_offsets, mask=rows[:, None] < seq, other=0.0)
    kv_base = batch * stride_kb + (head // group) * stride_kh
    row_max = tl.full([BLOCK], float("-inf"), tl.float32)
    row_sum = tl.zeros([BLOCK], tl.float32)
    acc = tl.zeros([BLOCK, HEAD_DIM], tl.float32)
    end = tl.minimum((block_m + 1) * BLOCK, seq) if CAUSAL else seq
    for start in range(0, end, BLOCK):
        keys = start + cols
        k = tl.load(K + kv_base + keys[None, :] * stride_ks + dims[:, None], mask=keys[None, :] < seq, other=0.0)
        scores = tl.dot(q, k) * scale
        valid = keys[None, :] < seq
        if CAUSAL:
            valid = valid & (keys[None, :] <= rows[:, None])
        scores = tl.where(valid, scores, float("-inf"))
        new_max = tl.maximum(row_max, tl.max(scores, 1))
        p = tl.exp(scores - new_max[:, None])
        correction = tl.exp(row_max - new_max)
        row_sum = row_sum * correction + tl.sum(p, 1)
        v = tl.load(V + kv_base + keys[:, None] * stride_ks + dims[None, :], mask=keys[:, None] < seq, other=0.0)
        acc = acc * correction[:, None] + tl.dot(p.to(v.dtype), v)
        row_max = new_max
    acc = acc / row_sum[:, None]
    tl.store(O + q_offsets, acc.to(O.dtype.element_ty), mask=rows[:, None] < seq)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    batch, heads, seq, head_dim = q.shape
    out = torch.empty_like(q)
    block = 32
    grid = (triton.cdiv(seq, block), batch * heads)
    _forward[grid](
        q, k, v, out,
        q.stride(0), q.stride(1), q.stride(2),
        k.stride(0), k.stride(1), k.stride(2),
        heads, heads // k.shape[1], seq, 1.0 / math.sqrt(head_dim),
        CAUSAL=causal, BLOCK=block, HEAD_DIM=head_dim,
    )
    return out
