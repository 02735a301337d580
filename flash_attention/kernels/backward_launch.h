// Host-side view of the backward kernels. Every backward runs the same three steps:
//   prologue  dQ accumulator = 0; D_i = rowsum(dO_i o O_i)            (FA2 Alg. 2 line 4)
//   main      dK, dV per query head (fp32) and dQ += ... atomically  (tiles or mma kernel)
//   epilogue  dQ -> dtype; dK, dV summed over each GQA group -> dtype
// dK and dV are kept per *query* head so no two thread blocks write the same element and the
// group sum is deterministic.
#pragma once
#include <cuda_runtime.h>

#include "flash_attention/attention.h"

namespace flash {

struct BwdScratch {
  float* dq_acc;   // [total_q, Hq, D]
  float* dk_head;  // [total_k, Hq, D]
  float* dv_head;  // [total_k, Hq, D]
  float* delta;    // [Hq, total_q]
};

BwdScratch backward_prologue(const Problem& p, const BackwardArgs& a, Workspace& ws,
                             cudaStream_t stream);
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
  float* dq_acc;             // [total_q, Hq, D]
  float* dk_head;            // [total_k, Hq, D]
  float* dv_head;            // [total_k, Hq, D]
  int total_q, heads_q, heads_kv, group;
  float scale;               // softmax scale
  float scale_log2;          // softmax scale * log2(e)
  bool causal;
};

// Tile of the tensor-core backward: 128 keys per thread block (8 warps), 64 queries per step.
constexpr int kFa2BwdBlockN = 128;
constexpr int kFa2BwdBlockM = 64;

template <int kD>
void run_fa2_backward_mma(const Fa2BwdParams& p, llmi::DType dtype, int key_blocks, int batch,
                          cudaStream_t stream);

}  // namespace flash
