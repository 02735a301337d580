// FlashAttention-1 forward, literally Algorithm 1 of arXiv 2205.14135 ("FlashAttention:
// Fast and Memory-Efficient Exact Attention with IO-Awareness", Sec. 3.1).
//
// One thread block per (query head, sequence) -- FA1's parallelisation (FA2 Sec. 3.2 moves to
// one block per query block). The outer loop walks key/value blocks j, the inner loop query
// blocks i, and O, l, m live in HBM between iterations, exactly as the algorithm states: that
// is the IO FA2 later removes by swapping the loops. S and P exist only as a 32 x 32 tile.
#include "element_type.h"
#include "fa1_forward_launch.h"
#include "fa1_tiles.cuh"
#include "llmi/check.h"
#include "smem_opt_in.h"

namespace flash {
namespace {
using fa1::kBc;
using fa1::kBr;
using fa1::Tile;

// Grid: (heads_q, batch); block: 256 threads.
template <typename T>
__global__ void __launch_bounds__(fa1::kThreads) fa1_forward_kernel(const Fa1FwdParams p) {
  extern __shared__ float smem[];
  const int h = blockIdx.x, b = blockIdx.y, kv_head = h / p.group, D = p.d;
  const int q0 = p.cu_seqlens_q[b], sq = p.cu_seqlens_q[b + 1] - q0;
  const int k0 = p.cu_seqlens_k[b], sk = p.cu_seqlens_k[b + 1] - k0;
  const int diag = sk - sq;  // bottom-right causal: query i sees keys j <= i + diag
  const Tile Kj{smem, D}, Vj{Kj.data + Tile::floats(kBc, D), D},
      Qi{Vj.data + Tile::floats(kBc, D), D};
  float* S = Qi.data + Tile::floats(kBr, D);  // [kBr][kBc]: S_ij, then P~_ij
  float* row_alpha = S + kBr * kBc;           // [kBr]: diag(l_new)^-1 diag(l_i) e^(m_i - m_new)
  float* row_beta = row_alpha + kBr;          // [kBr]: diag(l_new)^-1 e^(m~_ij - m_new)
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  auto o_at = [&](int t, int c) -> float& { return p.o_acc[(size_t(q0 + t) * p.heads_q + h) * D + c]; };
  const size_t stat0 = size_t(h) * p.total_q + q0;

  // Line 2: O = 0, l = 0, m = -inf in HBM (this block owns these rows).
  for (int i = threadIdx.x; i < sq * D; i += blockDim.x) o_at(i / D, i % D) = 0.f;
  for (int i = threadIdx.x; i < sq; i += blockDim.x) p.l[stat0 + i] = 0.f, p.m[stat0 + i] = -INFINITY;
  __syncthreads();

  const T* q = static_cast<const T*>(p.q);
  for (int j0 = 0; j0 < sk; j0 += kBc) {  // line 5: for 1 <= j <= Tc
    // Line 6: load K_j, V_j to SRAM.
    fa1::load_rows(Kj, static_cast<const T*>(p.k), k0 + j0, k0 + sk, p.heads_kv, kv_head, kBc);
    fa1::load_rows(Vj, static_cast<const T*>(p.v), k0 + j0, k0 + sk, p.heads_kv, kv_head, kBc);
    for (int i0 = 0; i0 < sq; i0 += kBr) {  // line 7: for 1 <= i <= Tr
      // Causal: a query block whose last row sees no key of block j contributes nothing.
      if (p.causal && j0 > i0 + kBr - 1 + diag) continue;
      // Line 8: load Q_i (O_i, l_i, m_i are read from HBM where used below).
      fa1::load_rows(Qi, q, q0 + i0, q0 + sq, p.heads_q, h, kBr);
      __syncthreads();
      // Line 9: S_ij = Q_i K_j^T (scaled, masked).
      fa1::matmul_abt(S, Qi, Kj);
      __syncthreads();
      // Lines 10-11, one warp per row, one lane per key column.
      for (int r = warp; r < kBr; r += warps) {
        const int col = j0 + lane;
        const bool visible = col < sk && (!p.causal || col <= i0 + r + diag);
        const float s = visible ? S[r * kBc + lane] * p.scale : -INFINITY;
        float m_tilde = s;  // m~_ij = rowmax(S_ij)
        for (int o = 16; o; o /= 2) m_tilde = fmaxf(m_tilde, __shfl_xor_sync(0xffffffffu, m_tilde, o));
        const float pt = visible ? __expf(s - m_tilde) : 0.f;  // P~_ij = exp(S_ij - m~_ij)
        S[r * kBc + lane] = pt;
        float l_tilde = pt;  // l~_ij = rowsum(P~_ij)
        for (int o = 16; o; o /= 2) l_tilde += __shfl_xor_sync(0xffffffffu, l_tilde, o);
        if (lane == 0) {
          float alpha = 1.f, beta = 0.f;
          if (i0 + r < sq && m_tilde != -INFINITY) {
            const float m_i = p.m[stat0 + i0 + r], l_i = p.l[stat0 + i0 + r];
            const float m_new = fmaxf(m_i, m_tilde);  // line 11
            const float l_new = __expf(m_i - m_new) * l_i + __expf(m_tilde - m_new) * l_tilde;
            alpha = l_i * __expf(m_i - m_new) / l_new;
            beta = __expf(m_tilde - m_new) / l_new;
            p.l[stat0 + i0 + r] = l_new;  // line 13
            p.m[stat0 + i0 + r] = m_new;
          }
          row_alpha[r] = alpha;
          row_beta[r] = beta;
        }
      }
      __syncthreads();
      // Line 12: O_i = diag(l_new)^-1 (diag(l_i) e^(m_i - m_new) O_i + e^(m~ - m_new) P~_ij V_j).
      for (int idx = threadIdx.x; idx < kBr * D; idx += blockDim.x) {
        const int r = idx / D, c = idx % D;
        if (i0 + r >= sq) continue;
        float pv = 0;
        for (int cc = 0; cc < kBc; ++cc) pv += S[r * kBc + cc] * Vj(cc, c);
        float& o = o_at(i0 + r, c);
        o = row_alpha[r] * o + row_beta[r] * pv;
      }
      __syncthreads();
    }
  }
  // Line 16: return O (in the input precision) and, for the backward, L = m + log l.
  T* out = static_cast<T*>(p.out);
  for (int i = threadIdx.x; i < sq * D; i += blockDim.x)
    out[(size_t(q0 + i / D) * p.heads_q + h) * D + i % D] = fa1::from_float<T>(o_at(i / D, i % D));
  if (p.lse)
    for (int i = threadIdx.x; i < sq; i += blockDim.x) {
      const float l = p.l[stat0 + i];
      p.lse[stat0 + i] = l > 0 ? p.m[stat0 + i] + logf(l) : -INFINITY;
    }
}

template <typename T>
void launch(const Fa1FwdParams& p, int batch, cudaStream_t stream) {
  const int smem = int(sizeof(float)) *
                   (2 * Tile::floats(kBc, p.d) + Tile::floats(kBr, p.d) + kBr * kBc + 2 * kBr);
  opt_in_dynamic_smem<fa1_forward_kernel<T>>(smem);
  // Grid: (heads_q, batch) -- FA1 parallelises over batch and heads only.
  fa1_forward_kernel<T><<<dim3(p.heads_q, batch), fa1::kThreads, smem, stream>>>(p);
  LLMI_LAUNCH_CHECK();
}
}  // namespace

void run_fa1_forward(const Fa1FwdParams& p, llmi::DType dtype, int batch, cudaStream_t stream) {
  with_element_type(dtype, [&](auto type) { launch<decltype(type)>(p, batch, stream); });
}

}  // namespace flash
