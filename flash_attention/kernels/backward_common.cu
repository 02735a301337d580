// Prologue and epilogue shared by every backward (see backward_launch.h).
#include <algorithm>

#include "backward_launch.h"
#include "element_type.h"
#include "mma_utils.cuh"
#include "llmi/check.h"

namespace flash {
namespace {

// D_i = rowsum(dO_i o O_i) (FA2 Alg. 2 line 4; FA1 Alg. 4 line 19 computes it inside the loop),
// and the row's dQ accumulator zeroed (as FA2's dot_do_o does: one pass instead of a memset).
// One warp per (token, head) row, 4 elements per lane per step. Grid: rows / 8; block: 256.
template <typename T>
__global__ void delta_kernel(const T* out,    // [total_q, Hq, D]
                             const T* dout,   // [total_q, Hq, D]
                             float* delta,    // [Hq, total_q]
                             float* dq_acc,   // [Hq, total_q, D]
                             int total_q, int heads_q, int d) {
  const int row = blockIdx.x * 8 + threadIdx.x / 32, lane = threadIdx.x % 32;  // row = t * Hq + h
  if (row >= total_q * heads_q) return;
  const size_t off = size_t(row) * d;
  const size_t head_major = size_t(row % heads_q) * total_q + row / heads_q;
  float acc = 0;
  for (int c = 4 * lane; c < d; c += 128) {
    const float4 o = mma::load4(out + off + c), g = mma::load4(dout + off + c);
    acc += o.x * g.x + o.y * g.y + o.z * g.z + o.w * g.w;
    *reinterpret_cast<float4*>(dq_acc + head_major * d + c) = make_float4(0, 0, 0, 0);
  }
  for (int o = 16; o; o /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, o);
  if (lane == 0) delta[head_major] = acc;
}

// dq[t, h] = scale * dq_acc[h, t] in the output dtype (the main kernels accumulate
// sum_j dS_ij K_j and leave the softmax scale of dS = P o (dP - D) * scale to this one pass),
// 4 elements per thread.
template <typename T>
__global__ void convert_dq_kernel(const float* dq_acc, T* dq, size_t elems, int total_q,
                                  int heads_q, int d, float scale) {
  for (size_t i = 4 * (blockIdx.x * size_t(blockDim.x) + threadIdx.x); i < elems;
       i += 4 * size_t(gridDim.x) * blockDim.x) {
    const size_t t = i / (size_t(heads_q) * d), h = i / d % heads_q, c = i % d;
    const float4 a = *reinterpret_cast<const float4*>(dq_acc + (h * total_q + t) * d + c);
    mma::store4(dq + i, make_float4(a.x * scale, a.y * scale, a.z * scale, a.w * scale));
  }
}

// dk[t, kh] = sum over the group's query heads h of dk_head[t, h] (same for dv), 4 elements
// per thread.
template <typename T>
__global__ void group_sum_dkv_kernel(const float* dk_head, const float* dv_head, T* dk, T* dv,
                                     size_t elems, int heads_kv, int group, int d) {
  for (size_t i = 4 * (blockIdx.x * size_t(blockDim.x) + threadIdx.x); i < elems;
       i += 4 * size_t(gridDim.x) * blockDim.x) {
    const size_t t = i / (size_t(heads_kv) * d), kh = i / d % heads_kv, c = i % d;
    const size_t base = (t * heads_kv * group + kh * group) * d + c;
    float4 sk = make_float4(0, 0, 0, 0), sv = sk;
    for (int g = 0; g < group; ++g) {
      const float4 k = *reinterpret_cast<const float4*>(dk_head + base + g * d);
      const float4 v = *reinterpret_cast<const float4*>(dv_head + base + g * d);
      sk.x += k.x, sk.y += k.y, sk.z += k.z, sk.w += k.w;
      sv.x += v.x, sv.y += v.y, sv.z += v.z, sv.w += v.w;
    }
    mma::store4(dk + i, sk);
    mma::store4(dv + i, sv);
  }
}

// Blocks of 256 threads for a grid-stride loop over `elems` elements, 4 per thread (capped).
int grid_for(size_t elems) { return int(std::min<size_t>((elems / 4 + 255) / 256, 65535)); }

template <typename T>
void launch_delta(const Problem& p, const BackwardArgs& a, const BwdScratch& s,
                  cudaStream_t stream) {
  const int rows = p.total_q() * p.heads_q;
  // Grid: one 8-warp block per 8 (token, head) rows
  delta_kernel<T><<<(rows + 7) / 8, 256, 0, stream>>>(
      static_cast<const T*>(a.fwd.out), static_cast<const T*>(a.dout), s.delta, s.dq_acc,
      p.total_q(), p.heads_q, p.head_dim);
  LLMI_LAUNCH_CHECK();
}

template <typename T>
void launch_finalize(const Problem& p, const BackwardArgs& a, const BwdScratch& s,
                     cudaStream_t stream) {
  const size_t dq_elems = size_t(p.total_q()) * p.heads_q * p.head_dim;
  const size_t dkv_elems = size_t(p.total_k()) * p.heads_kv * p.head_dim;
  if (dq_elems > 0) {
    convert_dq_kernel<T><<<grid_for(dq_elems), 256, 0, stream>>>(
        s.dq_acc, static_cast<T*>(a.dq), dq_elems, p.total_q(), p.heads_q, p.head_dim, p.scale());
    LLMI_LAUNCH_CHECK();
  }
  if (s.dk_head && dkv_elems > 0) {
    group_sum_dkv_kernel<T><<<grid_for(dkv_elems), 256, 0, stream>>>(
        s.dk_head, s.dv_head, static_cast<T*>(a.dk), static_cast<T*>(a.dv), dkv_elems,
        p.heads_kv, p.group(), p.head_dim);
    LLMI_LAUNCH_CHECK();
  }
}
}  // namespace

BwdScratch backward_prologue(const Problem& p, const BackwardArgs& a, bool dkv_per_head,
                             size_t partial_floats, Workspace& ws, cudaStream_t stream) {
  const size_t dq_elems = size_t(p.total_q()) * p.heads_q * p.head_dim;
  const size_t dk_head_elems = dkv_per_head ? size_t(p.total_k()) * p.heads_q * p.head_dim : 0;
  const size_t stats = size_t(p.total_q()) * p.heads_q;
  // The stream-K partials first: they are read as float4 (16-byte aligned like ws's memory).
  float* partial = static_cast<float*>(
      ws.get(sizeof(float) * (partial_floats + dq_elems + 2 * dk_head_elems + stats)));
  float* f = partial + partial_floats;
  float* heads = dkv_per_head ? f + dq_elems : nullptr;
  BwdScratch s{f, heads, heads ? heads + dk_head_elems : nullptr, f + dq_elems + 2 * dk_head_elems,
               partial_floats > 0 ? partial : nullptr};
  if (p.total_q() == 0) return s;
  with_element_type(p.dtype, [&](auto type) { launch_delta<decltype(type)>(p, a, s, stream); });
  return s;
}

void backward_epilogue(const Problem& p, const BackwardArgs& a, const BwdScratch& s,
                       cudaStream_t stream) {
  with_element_type(p.dtype, [&](auto type) { launch_finalize<decltype(type)>(p, a, s, stream); });
}

}  // namespace flash
