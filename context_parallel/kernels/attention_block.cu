#include <cmath>

#include "attention_block.cuh"
#include "llmi/check.h"

namespace llmi::cp::gpu {
namespace {

constexpr int kThreads = 128;  // keys per tile, and the block size

// Block-wide reduction through warp shuffles; every thread gets the result.
template <class Op>
__device__ float block_reduce(float x, Op op, float* scratch /*[kThreads / 32]*/) {
  for (int o = 16; o > 0; o >>= 1) x = op(x, __shfl_xor_sync(0xffffffffu, x, o));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();  // scratch may still be read by the previous reduction
  if (lane == 0) scratch[warp] = x;
  __syncthreads();
  x = scratch[0];
  for (int w = 1; w < kThreads / 32; ++w) x = op(x, scratch[w]);
  return x;
}

struct Max {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct Sum {
  __device__ float operator()(float a, float b) const { return a + b; }
};

// Grid: (Lq, Hq). Block: kThreads. Thread t scores key (tile + t); thread d < D accumulates
// output dimension d. Online softmax (running max m, running sum l) in fp32.
__global__ void attention_block_kernel(const Token* __restrict__ q_tok, const __nv_bfloat16* __restrict__ q,
                                       const Token* __restrict__ kv_tok, const __nv_bfloat16* __restrict__ k,
                                       const __nv_bfloat16* __restrict__ v, int Lkv, int Hq, int Hkv,
                                       int D, float scale, bool causal, float* __restrict__ out,
                                       float* __restrict__ lse) {
  __shared__ float qs[kMaxHeadDim];
  __shared__ float p[kThreads];
  __shared__ float scratch[kThreads / 32];
  const int i = blockIdx.x, h = blockIdx.y, kh = h / (Hq / Hkv), t = threadIdx.x;
  const Token qt = q_tok[i];
  const size_t row = size_t(i) * Hq + h;
  if (t < D) qs[t] = __bfloat162float(q[row * D + t]);
  __syncthreads();

  float m = -INFINITY, l = 0.f, acc = 0.f;
  for (int tile = 0; tile < Lkv; tile += kThreads) {
    const int j = tile + t;
    float s = -INFINITY;
    if (j < Lkv && visible(qt, kv_tok[j], causal)) {
      const __nv_bfloat16* kj = k + (size_t(j) * Hkv + kh) * D;
      float dot = 0.f;
      for (int d = 0; d < D; ++d) dot += qs[d] * __bfloat162float(kj[d]);
      s = dot * scale;
    }
    const float tile_max = block_reduce(s, Max{}, scratch);
    if (tile_max == -INFINITY) continue;  // uniform over the block: nothing visible here
    const float m_new = fmaxf(m, tile_max);
    const float pj = s == -INFINITY ? 0.f : __expf(s - m_new);
    p[t] = pj;
    const float alpha = m == -INFINITY ? 0.f : __expf(m - m_new);
    l = l * alpha + block_reduce(pj, Sum{}, scratch);  // the reduction's barriers publish p[]
    if (t < D) {
      float a = acc * alpha;
      const int n = min(kThreads, Lkv - tile);
      for (int u = 0; u < n; ++u)
        if (p[u] != 0.f) a += p[u] * __bfloat162float(v[(size_t(tile + u) * Hkv + kh) * D + t]);
      acc = a;
    }
    m = m_new;
    __syncthreads();  // p[] is rewritten by the next tile
  }
  if (t < D) out[row * D + t] = l > 0.f ? acc / l : 0.f;
  if (t == 0) lse[row] = l > 0.f ? m + logf(l) : -INFINITY;
}

// Grid: rows. Block: D threads, thread d merges output dimension d of the row.
__global__ void merge_kernel(int S, size_t rows, int D, const float* __restrict__ outs,
                             const float* __restrict__ lses, size_t stride, float* __restrict__ out,
                             float* __restrict__ lse) {
  const size_t r = blockIdx.x;
  const int d = threadIdx.x;
  float mx = -INFINITY;
  for (int s = 0; s < S; ++s) mx = fmaxf(mx, lses[s * stride + r]);
  if (mx == -INFINITY) {
    out[r * D + d] = 0.f;
    if (lse && d == 0) lse[r] = -INFINITY;
    return;
  }
  float denom = 0.f, o = 0.f;
  for (int s = 0; s < S; ++s) {
    const float w = __expf(lses[s * stride + r] - mx);
    denom += w;
    o += w * outs[s * stride + r * D + d];
  }
  out[r * D + d] = o / denom;
  if (lse && d == 0) lse[r] = mx + logf(denom);
}

}  // namespace

void attention_block(const Token* q_tok, const __nv_bfloat16* q, int Lq, const Token* kv_tok,
                     const __nv_bfloat16* k, const __nv_bfloat16* v, int Lkv, int Hq, int Hkv, int D,
                     float scale, bool causal, float* out, float* lse, cudaStream_t stream) {
  LLMI_REQUIRE(D > 0 && D <= kMaxHeadDim, "GPU attention block supports head dim up to "
                                              << kMaxHeadDim << ", got " << D);
  LLMI_REQUIRE(Hkv > 0 && Hq % Hkv == 0, "query heads (" << Hq << ") must be a multiple of kv heads (" << Hkv << ")");
  if (Lq == 0) return;
  // Grid: (Lq, Hq), one block per (query, head) row.
  attention_block_kernel<<<dim3(Lq, Hq), kThreads, 0, stream>>>(q_tok, q, kv_tok, k, v, Lkv, Hq, Hkv,
                                                                 D, scale, causal, out, lse);
  LLMI_LAUNCH_CHECK();
}

void merge_partials(int S, size_t rows, int D, const float* outs, const float* lses, size_t stride,
                    float* out, float* lse, cudaStream_t stream) {
  if (rows == 0) return;
  // Grid: rows (tokens * heads), one block per row.
  merge_kernel<<<unsigned(rows), D, 0, stream>>>(S, rows, D, outs, lses, stride, out, lse);
  LLMI_LAUNCH_CHECK();
}

}  // namespace llmi::cp::gpu
