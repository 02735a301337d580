// Prologue and epilogue shared by every backward (see backward_launch.h).
#include <algorithm>

#include "backward_launch.h"
#include "fa1_tiles.cuh"
#include "llmi/check.h"

namespace flash {
namespace {

// D_i = rowsum(dO_i o O_i) (FA2 Alg. 2 line 4; FA1 Alg. 4 line 19 computes it inside the loop).
// Grid: (total_q, heads_q); block: 32 threads.
template <typename T>
__global__ void delta_kernel(const T* out,    // [total_q, Hq, D]
                             const T* dout,   // [total_q, Hq, D]
                             float* delta,    // [Hq, total_q]
                             int total_q, int heads_q, int d) {
  const int t = blockIdx.x, h = blockIdx.y;
  const size_t off = (size_t(t) * heads_q + h) * d;
  float acc = 0;
  for (int c = threadIdx.x; c < d; c += 32)
    acc += fa1::to_float(out[off + c]) * fa1::to_float(dout[off + c]);
  for (int o = 16; o; o /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, o);
  if (threadIdx.x == 0) delta[size_t(h) * total_q + t] = acc;
}

// dq = dq_acc; dk[t, kh] = sum over the group's query heads h of dk_head[t, h] (same for dv).
template <typename T>
__global__ void finalize_kernel(const float* dq_acc, const float* dk_head, const float* dv_head,
                                T* dq, T* dk, T* dv, size_t dq_elems, size_t dkv_elems,
                                int heads_kv, int group, int d) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < max(dq_elems, dkv_elems);
       i += size_t(gridDim.x) * blockDim.x) {
    if (i < dq_elems) dq[i] = fa1::from_float<T>(dq_acc[i]);
    if (i < dkv_elems) {
      const size_t t = i / (size_t(heads_kv) * d), kh = i / d % heads_kv, c = i % d;
      const size_t base = (t * heads_kv * group + kh * group) * d + c;
      float sk = 0, sv = 0;
      for (int g = 0; g < group; ++g) sk += dk_head[base + g * d], sv += dv_head[base + g * d];
      dk[i] = fa1::from_float<T>(sk);
      dv[i] = fa1::from_float<T>(sv);
    }
  }
}

template <typename T>
void launch_delta(const Problem& p, const BackwardArgs& a, float* delta, cudaStream_t stream) {
  // Grid: (total_q, heads_q)
  delta_kernel<T><<<dim3(p.total_q(), p.heads_q), 32, 0, stream>>>(
      static_cast<const T*>(a.fwd.out), static_cast<const T*>(a.dout), delta, p.total_q(),
      p.heads_q, p.head_dim);
  LLMI_LAUNCH_CHECK();
}

template <typename T>
void launch_finalize(const Problem& p, const BackwardArgs& a, const BwdScratch& s,
                     cudaStream_t stream) {
  const size_t dq_elems = size_t(p.total_q()) * p.heads_q * p.head_dim;
  const size_t dkv_elems = size_t(p.total_k()) * p.heads_kv * p.head_dim;
  const size_t n = std::max(dq_elems, dkv_elems);
  if (n == 0) return;
  // Grid: enough 256-thread blocks for the larger output, capped (grid-stride loop)
  finalize_kernel<T><<<int(std::min<size_t>((n + 255) / 256, 65535)), 256, 0, stream>>>(
      s.dq_acc, s.dk_head, s.dv_head, static_cast<T*>(a.dq), static_cast<T*>(a.dk),
      static_cast<T*>(a.dv), dq_elems, dkv_elems, p.heads_kv, p.group(), p.head_dim);
  LLMI_LAUNCH_CHECK();
}
}  // namespace

BwdScratch backward_prologue(const Problem& p, const BackwardArgs& a, Workspace& ws,
                             cudaStream_t stream) {
  const size_t dq_elems = size_t(p.total_q()) * p.heads_q * p.head_dim;
  const size_t dk_head_elems = size_t(p.total_k()) * p.heads_q * p.head_dim;
  const size_t stats = size_t(p.total_q()) * p.heads_q;
  float* f = static_cast<float*>(ws.get(sizeof(float) * (dq_elems + 2 * dk_head_elems + stats)));
  BwdScratch s{f, f + dq_elems, f + dq_elems + dk_head_elems, f + dq_elems + 2 * dk_head_elems};
  LLMI_CUDA_CHECK(cudaMemsetAsync(s.dq_acc, 0, sizeof(float) * dq_elems, stream));
  if (p.total_q() == 0) return s;
  if (p.dtype == llmi::DType::BF16)
    launch_delta<__nv_bfloat16>(p, a, s.delta, stream);
  else
    launch_delta<__half>(p, a, s.delta, stream);
  return s;
}

void backward_epilogue(const Problem& p, const BackwardArgs& a, const BwdScratch& s,
                       cudaStream_t stream) {
  if (p.dtype == llmi::DType::BF16)
    launch_finalize<__nv_bfloat16>(p, a, s, stream);
  else
    launch_finalize<__half>(p, a, s, stream);
}

}  // namespace flash
