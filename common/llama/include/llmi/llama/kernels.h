// Launchers of the CUDA runtime's fused kernels (bf16 storage, fp32 math). Declared apart from
// the runtime so GPU tests can check each one against the fp64 CPU reference on its own.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "llmi/dtype.h"  // LLMI_HD

namespace llmi::llama::kernels {

using bf16_t = uint16_t;  // raw bf16 bits; the kernels convert with llmi/dtype.h

// Where each new token of a step belongs. All arrays live on the device.
struct StepMeta {
  const int* tokens;      // [T] token ids
  const int* positions;   // [T] RoPE positions
  const int* tok_chunk;   // [T] chunk (sequence of the batch) of each token
  const int* tok_row;     // [T] row of the token inside its chunk
  const int* seq;         // [C] KV cache slot of each chunk
  const int* old_len;     // [C] cached rows before this step
  const int* n_new;       // [C] new tokens of the chunk
  const int* mask_off;    // [C] byte offset of the chunk's n x n mask in `mask`, -1 = causal
  const uint8_t* mask;    // concatenated masks, row-major, 1 = visible
  const int* out_rows;    // [R] token index of each output row
};

// KV cache geometry: [layers][max_seqs][max_ctx][kv_heads][head_dim] bf16, one for K, one for V.
struct KvLayout {
  int max_seqs, max_ctx, kv_heads, head_dim;
  LLMI_HD size_t seq_stride() const { return size_t(max_ctx) * kv_heads * head_dim; }
  LLMI_HD size_t layer_stride() const { return size_t(max_seqs) * seq_stride(); }
};

// x[T, H] fp32 = embed[tokens[t], :]   (embed [V, H] bf16), and the same rows in bf16 into
// x_bf16 if given (the input of a norm-fused GEMV, see GemvFusion).
void embed(const bf16_t* table, const StepMeta& m, float* x, bf16_t* x_bf16, int T, int H,
           cudaStream_t s);

// Residual add and RMSNorm, fused (H % 8 == 0, H <= 8192; 16-byte aligned rows). For output row r (token src = rows ? rows[r] : r):
//   v = x[src] + delta[src] + bias   (delta, bias optional; with delta and no rows, x[src] = v)
//   out[r] = v / sqrt(mean(v^2) + eps) * w    (bf16), and out_f32[r] the same in fp32 if given.
// w may be null (unit weight: the runtime folds the layers' norm weights into the next GEMM).
void add_rmsnorm(float* x, const bf16_t* delta, const bf16_t* bias, const float* w, bf16_t* out,
                 float* out_f32, const int* rows, int R, int H, float eps, cudaStream_t s);

// Splits qkv [T, (Hq + 2 Hkv) D] (+ bias fp32), applies RoPE (HF rotate_half) to q and k at each
// token's position, writes q [T, Hq, D] and appends k, v to the token's sequence at row
// old_len + tok_row in this layer's caches.
void rope_append(const bf16_t* qkv, const float* bias, const StepMeta& m, bf16_t* q,
                 bf16_t* k_cache, bf16_t* v_cache, const KvLayout& kv, int T, int Hq,
                 float theta, cudaStream_t s);

// out[T, Hq, D] = softmax(q k^T / sqrt(D)) v per token over its sequence's cached rows
// [0, old_len) (always visible) and its chunk's new rows (causal, or the chunk's mask).
// Flash-decoding split-K: grid (T, Hq, S) with S = attention_splits(T, Hq) key ranges per
// (token, head) so that a batch-1 decode step still fills the GPU; each block keeps an online
// softmax (m, l, acc) per key, g = D/8 lanes per key with one 16-byte load each, several keys in
// flight per warp. With S > 1 the blocks write unnormalised partial states to `scratch` and the
// last block of each (token, head) to arrive merges them (Dao et al., Flash-Decoding).
constexpr int kAttnTargetBlocks = 264;  // two blocks per SM on an H100/H200 (132 SMs)
constexpr int kAttnMaxSplits = 16;
int attention_splits(int T, int Hq);
struct AttentionScratch {
  float* partial = nullptr;  // [attention_scratch_floats(D)]: (m, l, acc[D]) per (token, head, split)
  int* counters = nullptr;   // [kAttnTargetBlocks], zero before the first launch; launches leave them 0
};
size_t attention_scratch_floats(int head_dim);
// With an empty scratch ({}) every (token, head) gets one block: S = 1.
void attention(const bf16_t* q, const bf16_t* k_cache, const bf16_t* v_cache, const StepMeta& m,
               const KvLayout& kv, bf16_t* out, const AttentionScratch& scratch, int T, int Hq,
               cudaStream_t s);

// The fused gate|up projection [2I, H] interleaves its rows in groups of kSwigluGroup: rows
// 16k .. 16k+7 are gate rows 8k .. 8k+7 and rows 16k+8 .. 16k+15 the matching up rows, so one
// 16-row GEMV tile holds both inputs of 8 SwiGLU outputs (I % kSwigluGroup == 0).
constexpr int kSwigluGroup = 8;
// out[T, I] = silu(gate) * up from gu [T, 2I] in that interleaved layout.
void silu_mul(const bf16_t* gu, bf16_t* out, int T, int I, cudaStream_t s);

// Y[T, N] = X[T, K] W[N, K]^T for few rows (T <= kGemvMaxRows): the decode-step linear layer,
// bound by reading W once. bf16 X and W (16-byte aligned, K % 8 == 0), tensor cores with fp32
// accumulation, Y in bf16 or fp32. Grid: ceil(N / 16) blocks of 8 warps that split K.
// kSwiglu: W is a fused gate|up matrix (N = 2I rows, interleaved as above) and Y[T, I] =
// silu(gate) * up in bf16, made from the fp32 sums (the decode step's silu_mul, fused).
// kResidual: Y is the fp32 residual stream x[T, N]: x += X W^T (+ bias), and its bf16 copy is
// written to GemvFusion::residual_bf16 (the input of the next norm-fused GEMV).
constexpr int kGemvMaxRows = 8;
enum class GemvOut { kBf16, kF32, kSwiglu, kResidual };
struct GemvFusion {
  // RMSNorm of the input, fused: X is the raw residual stream (bf16), W carries the norm weight
  // in its columns (W[n][k] * w[k]), and row t of the output is divided by
  // sqrt(mean(X[t]^2) + eps) -- so Y = RMSNorm(X) W_original^T.
  bool rms_norm = false;
  float eps = 0.0f;
  const bf16_t* bias = nullptr;     // kResidual: added to every row (optional)
  bf16_t* residual_bf16 = nullptr;  // kResidual: [T, N], bf16 copy of the updated residual
};
bool gemv_supported(const void* X, const void* W, int T, int K);
void gemv(const bf16_t* X, const bf16_t* W, void* Y, GemvOut y_kind, int T, int N, int K,
          cudaStream_t s, const GemvFusion& f = {});

// Moves rows first + rows[k] to first + k (rows strictly increasing) in every layer's K and V
// cache of sequence `seq`. rows is a device array.
void keep_rows(bf16_t* k_cache, bf16_t* v_cache, const KvLayout& kv, int layers, int seq,
               int first, const int* rows, int count, cudaStream_t s);

}  // namespace llmi::llama::kernels
