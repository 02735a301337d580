// Host-side view of the backward kernels. Every backward runs the same three steps:
//   prologue  dQ accumulator = 0; D_i = rowsum(dO_i o O_i)            (FA2 Alg. 2 line 4)
//   main      dK, dV; dQ accumulator += dS K_j atomically            (tiles or mma kernel)
//   epilogue  dQ = scale * accumulator -> dtype; dK, dV per query head summed over each GQA
//             group -> dtype
// Under GQA, dK and dV are kept per *query* head (fp32 scratch) so no two thread blocks write
// the same element and the group sum is deterministic; the tensor-core FA2 backward writes them
// straight to the outputs when each kv head has one query head (no scratch).
#pragma once
#include <cuda_runtime.h>

#include "flash_attention/attention.h"
#include "stream_k.h"

namespace flash {

struct BwdScratch {
  float* dq_acc;   // [Hq, total_q, D]: sum over key blocks of dS K (the epilogue scales it and
                   // makes it token-major); head-major so a thread's rows are one address plus
                   // constant offsets in the kernels' atomics
  float* dk_head;  // [total_k, Hq, D], or null when the main kernel writes dK itself
  float* dv_head;  // [total_k, Hq, D], or null likewise
  float* delta;    // [Hq, total_q]
  float* dkv_partial;  // stream-K's partial dK, dV per persistent block (stream_k.h), or null
};

// dkv_per_head: whether the main kernel writes dK, dV per query head into the scratch (for the
// epilogue to sum and convert) rather than into the outputs.
// partial_floats: the size of BwdScratch::dkv_partial.
BwdScratch backward_prologue(const Problem& p, const BackwardArgs& a, bool dkv_per_head,
                             size_t partial_floats, Workspace& ws, cudaStream_t stream);
void backward_epilogue(const Problem& p, const BackwardArgs& a, const BwdScratch& s,
                       cudaStream_t stream);

// The fp32 shared-memory-tile backward (FA1 Alg. 4): one block per (head, sequence) looping
// over key blocks (FA1), or one block per key block (FA2's parallelisation).
void run_backward_tiles(const Problem& p, const BackwardArgs& a, const BwdScratch& s,
                        bool parallel_over_keys, cudaStream_t stream);

struct Fa2BwdParams {
  const void* q;             // [total_q, Hq, D]
  const void* k;             // [total_k, Hkv, D]
  const void* v;             // [total_k, Hkv, D]
  const void* dout;          // [total_q, Hq, D]
  const float* lse;          // [Hq, total_q]
  const float* delta;        // [Hq, total_q]
  const int* cu_seqlens_q;   // [batch + 1]
  const int* cu_seqlens_k;   // [batch + 1]
  float* dq_acc;             // [Hq, total_q, D]
  float* dk_head;            // [total_k, Hq, D] fp32, when group > 1
  float* dv_head;            // [total_k, Hq, D] fp32, when group > 1
  void* dk;                  // [total_k, Hkv, D] in the input dtype, when group == 1
  void* dv;                  // [total_k, Hkv, D] likewise
  int total_q, heads_q, heads_kv, group;
  int key_blocks, batch;     // of the grid: key blocks of the longest sequence, sequences
  int lpt_section;           // (sequence, head) pairs per section of the dispatch order
  StreamKSchedule stream_k;  // blocks == 0: one thread block per tile
  float* dkv_partial;        // [stream_k.blocks][fa2_bwd_partial_floats(D)] under stream-K
  int* stream_k_flags;       // [stream_k.blocks], 0 between calls
  float scale;               // softmax scale
  float scale_log2;          // softmax scale * log2(e)
  bool causal;
};

// Keys per thread block of the tensor-core backward (8 warps; 64 queries per step at d = 128,
// 128 at d = 64: fa2_backward.cuh).
constexpr int kFa2BwdBlockN = 128;
constexpr int fa2_bwd_block_m(int head_dim) { return head_dim == 64 ? 128 : 64; }
// Floats of one stream-K partial: a key block's dK and dV in fp32.
constexpr int fa2_bwd_partial_floats(int head_dim) { return 2 * kFa2BwdBlockN * head_dim; }

// fa2_backward, with stream-K (stream_k.h) allowed from `min_rows` query rows per sequence on:
// fa2_backward sets where it pays, the tests 0 to reach the split kernel on small problems.
void fa2_backward_stream_k_from(const Problem& p, const BackwardArgs& a, Workspace& ws,
                                int min_rows, cudaStream_t stream);

// Thread blocks of the tensor-core backward the device runs at once (SMs x blocks per SM).
template <int kD>
int fa2_backward_slots(llmi::DType dtype);

// Launches key_blocks * heads_q * batch blocks in the order of block_order.h (it fills
// p.lpt_section), or under stream-K p.stream_k.blocks persistent blocks.
template <int kD>
void run_fa2_backward_mma(Fa2BwdParams p, llmi::DType dtype, cudaStream_t stream);

}  // namespace flash
