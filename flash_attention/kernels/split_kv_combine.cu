// Flash-Decoding's merge step: each of num_splits thread blocks attended to one slice of the
// keys and wrote its normalised partial output O_s and logsumexp L_s. The exact result is the
// softmax-weighted mix (the same rescaling as FA1 Alg. 1 line 12, done once for all slices):
//   L = log sum_s exp(L_s),   O = sum_s exp(L_s - L) O_s.
// A slice that saw no visible key has L_s = -inf and weight 0.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "fa2_forward_launch.h"
#include "llmi/check.h"

namespace flash {

namespace {
template <typename T>
__device__ T from_float(float x);
template <>
__device__ __nv_bfloat16 from_float(float x) { return __float2bfloat16(x); }
template <>
__device__ __half from_float(float x) { return __float2half(x); }

// Grid: (total_q, heads_q); block: head_dim threads, one output element each.
template <typename T>
__global__ void split_kv_combine_kernel(const float* __restrict__ out_partial,  // [S, total_q, Hq, D]
                                        const float* __restrict__ lse_partial,  // [S, Hq, total_q]
                                        int num_splits, int total_q, int heads_q,
                                        T* __restrict__ out,   // [total_q, Hq, D]
                                        float* __restrict__ lse) {  // [Hq, total_q] or null
  const int t = blockIdx.x, h = blockIdx.y, d = threadIdx.x, D = blockDim.x;
  const size_t lse_stride = size_t(heads_q) * total_q, out_stride = size_t(total_q) * heads_q * D;
  const size_t l_off = size_t(h) * total_q + t, o_off = (size_t(t) * heads_q + h) * D + d;
  float mx = -INFINITY;
  for (int s = 0; s < num_splits; ++s) mx = fmaxf(mx, lse_partial[s * lse_stride + l_off]);
  float sum = 0, acc = 0;
  if (mx != -INFINITY) {
    for (int s = 0; s < num_splits; ++s) {
      const float w = __expf(lse_partial[s * lse_stride + l_off] - mx);
      sum += w;
      acc += w * out_partial[s * out_stride + o_off];
    }
  }
  out[o_off] = from_float<T>(sum > 0 ? acc / sum : 0.f);
  if (lse && d == 0) lse[l_off] = sum > 0 ? mx + logf(sum) : -INFINITY;
}
}  // namespace

void split_kv_combine(const float* out_partial, const float* lse_partial, int num_splits,
                      int total_q, int heads_q, int head_dim, llmi::DType dtype, void* out,
                      float* lse, cudaStream_t stream) {
  if (total_q == 0) return;
  const dim3 grid(total_q, heads_q);
  if (dtype == llmi::DType::BF16)
    split_kv_combine_kernel<<<grid, head_dim, 0, stream>>>(out_partial, lse_partial, num_splits,
                                                           total_q, heads_q,
                                                           static_cast<__nv_bfloat16*>(out), lse);
  else
    split_kv_combine_kernel<<<grid, head_dim, 0, stream>>>(
        out_partial, lse_partial, num_splits, total_q, heads_q, static_cast<__half*>(out), lse);
  LLMI_LAUNCH_CHECK();
}

}  // namespace flash
