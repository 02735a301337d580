// GPU attention block and LSE merge: the device side of GpuEngine (gpu_engine.h).
//
// Version 1 (this file): correct and simple, not fast: one thread block per (query, head) row,
// online softmax over 128-key tiles in fp32, CUDA cores only. It exists so the ring runs end to
// end on GPUs and is checked against the fp64 reference; a tensor-core block (FA2/FA3-style)
// is what the paper's efficiency numbers need and is not written yet (README, Limitations).
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>

#include "../src/token.h"

namespace llmi::cp::gpu {

constexpr int kMaxHeadDim = 128;  // one thread per output dimension, one block of 128 threads

// out [Lq, Hq, D] fp32, lse [Lq, Hq] fp32 (natural log, -inf for rows that see no key).
void attention_block(const Token* q_tok, const __nv_bfloat16* q, int Lq,  // q [Lq, Hq, D]
                     const Token* kv_tok, const __nv_bfloat16* k,          // k [Lkv, Hkv, D]
                     const __nv_bfloat16* v, int Lkv,                      // v [Lkv, Hkv, D]
                     int Hq, int Hkv, int D, float scale, bool causal, float* out, float* lse,
                     cudaStream_t stream);

// Eq. 4 over S partials; partial s: out at outs + s*stride [rows, D], lse at lses + s*stride [rows].
void merge_partials(int S, size_t rows, int D, const float* outs, const float* lses, size_t stride,
                    float* out, float* lse, cudaStream_t stream);

}  // namespace llmi::cp::gpu
