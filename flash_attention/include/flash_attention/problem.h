// What attention to compute, independent of which kernel computes it, and its validation.
//
// Every kernel here reads the same "varlen" layout (FlashAttention-2's flash_attn_varlen_func):
// the sequences of a batch are packed one after another along the token axis, and cumulative
// offsets say where each starts. A fixed-length batch is the special case of equal lengths.
//
//   q, out  [total_q, heads_q, head_dim]     sequence b owns tokens cu_seqlens_q[b] .. [b+1]
//   k, v    [total_k, heads_kv, head_dim]    sequence b owns tokens cu_seqlens_k[b] .. [b+1]
//   lse     [heads_q, total_q] fp32          natural-log sum-exp of each row's scaled scores
//
// Grouped-query attention: query head h reads kv head h / (heads_q / heads_kv) (MQA: 1 kv head).
// Causal masks are aligned to the bottom-right corner (FlashAttention >= 2.1): with Sq queries
// and Sk keys, query i sees key j iff j <= i + (Sk - Sq), so a chunk of Sq new tokens after a
// cached prefix of Sk - Sq tokens (chunked prefill, decode) sees the prefix and itself causally.
#pragma once
#include <string>
#include <vector>

#include "llmi/dtype.h"

namespace flash {

struct Problem {
  llmi::DType dtype = llmi::DType::BF16;  // of q, k, v, out (and dout, dq, dk, dv)
  int heads_q = 1;
  int heads_kv = 1;
  int head_dim = 64;
  bool causal = false;
  float softmax_scale = 0;  // 0 means 1/sqrt(head_dim)
  std::vector<int> cu_seqlens_q{0, 1};  // [batch + 1], starts at 0, non-decreasing
  std::vector<int> cu_seqlens_k{0, 1};  // [batch + 1]

  int batch() const { return int(cu_seqlens_q.size()) - 1; }
  int seqlen_q(int b) const { return cu_seqlens_q[b + 1] - cu_seqlens_q[b]; }
  int seqlen_k(int b) const { return cu_seqlens_k[b + 1] - cu_seqlens_k[b]; }
  int total_q() const { return cu_seqlens_q.back(); }
  int total_k() const { return cu_seqlens_k.back(); }
  int max_seqlen_q() const;
  int max_seqlen_k() const;
  int group() const { return heads_q / heads_kv; }  // query heads per kv head
  float scale() const;
  std::string str() const;  // "bf16 b=2 hq=8 hkv=2 d=128 causal sq=[..] sk=[..]"
};

// Cumulative offsets of the given lengths: {3, 5} -> {0, 3, 8}. Throws on a negative length.
std::vector<int> cumulative_offsets(const std::vector<int>& lengths);

// A batch of `batch` sequences of seqlen_q queries and seqlen_k keys each.
Problem fixed_length_problem(llmi::DType dtype, int batch, int heads_q, int heads_kv,
                             int head_dim, int seqlen_q, int seqlen_k, bool causal);

// Throws llmi::Error naming the first problem: a head dim outside `supported_head_dims`, a
// dtype other than bf16/fp16, heads_q not a multiple of heads_kv, malformed offsets, ...
void validate(const Problem& p, const std::vector<int>& supported_head_dims = {64, 128, 256});

// FLOPs as FlashAttention's benchmarks count them (hopper/benchmark_attn.py): per head and
// sequence 4 * Sq * avg_k * D (two matmuls), avg_k = Sk, or (max(0, Sk - Sq) + Sk) / 2 under the
// causal mask -- half the square when Sq = Sk. Backward counts 2.5x this (five matmuls).
double forward_flops(const Problem& p);

// Bytes of score/probability matrices the standard (materialising) implementation allocates.
double standard_attention_scratch_bytes(const Problem& p);

}  // namespace flash
