// The attention backward on fp32 shared-memory tiles, shared by FlashAttention-1 and -2:
//
//   FA1 (arXiv 2205.14135, Alg. 4 / Appendix B.4): one thread block per (query head, sequence)
//       walks every key block j (outer loop) and, inside, every query block i.
//   FA2 (arXiv 2307.08691, Alg. 2, Sec. 3.2): one thread block per key block j -- the outer
//       loop becomes the grid, so long sequences fill the GPU; blocks of different j update
//       the same rows of dQ, so dQ is accumulated with atomic adds in fp32.
// The loop body is the same in both (recomputation of P from the saved logsumexp, FA1 Sec. 3.1
// "Recomputation"), so it is written once and the two differ in the grid. FA2's own backward
// runs on tensor cores (fa2_backward.cuh) for d = 64 and 128; this kernel serves FA1, and FA2
// at d = 256.
#include <algorithm>

#include "backward_launch.h"
#include "element_type.h"
#include "fa1_tiles.cuh"
#include "llmi/check.h"
#include "smem_opt_in.h"

namespace flash {
namespace {
using fa1::kBc;
using fa1::kBr;
using fa1::Tile;

struct BwdParams {
  const void* q;            // [total_q, Hq, D]
  const void* k;            // [total_k, Hkv, D]
  const void* v;            // [total_k, Hkv, D]
  const void* dout;         // [total_q, Hq, D]
  const float* lse;         // [Hq, total_q]: L = m + log l from the forward
  const float* delta;       // [Hq, total_q]: D_i = rowsum(dO_i o O_i)
  const int* cu_seqlens_q;  // [batch + 1]
  const int* cu_seqlens_k;  // [batch + 1]
  float* dq_acc;            // [Hq, total_q, D] fp32, zeroed, atomically accumulated (unscaled)
  float* dk_head;           // [total_k, Hq, D] fp32: dK of each query head
  float* dv_head;           // [total_k, Hq, D] fp32
  int total_q, heads_q, heads_kv, group, d;
  float scale;
  bool causal;
};

// Grid: (key-block slots, heads_q, batch) -- 1 slot for FA1 (the block loops over all key
// blocks), one per key block for FA2; block: 256 threads.
template <typename T>
__global__ void __launch_bounds__(fa1::kThreads) backward_kernel(const BwdParams p) {
  extern __shared__ float smem[];
  const int h = blockIdx.y, b = blockIdx.z, kv_head = h / p.group, D = p.d;
  const int q0 = p.cu_seqlens_q[b], sq = p.cu_seqlens_q[b + 1] - q0;
  const int k0 = p.cu_seqlens_k[b], sk = p.cu_seqlens_k[b + 1] - k0;
  const int diag = sk - sq;
  const Tile Kj{smem, D}, Vj{Kj.data + Tile::floats(kBc, D), D},
      dKj{Vj.data + Tile::floats(kBc, D), D}, dVj{dKj.data + Tile::floats(kBc, D), D},
      Qi{dVj.data + Tile::floats(kBc, D), D}, dOi{Qi.data + Tile::floats(kBr, D), D};
  float* P = dOi.data + Tile::floats(kBr, D);  // [kBr][kBc]
  float* dS = P + kBr * kBc;                   // [kBr][kBc]: dP, then dS
  const T* q = static_cast<const T*>(p.q);
  const T* dout = static_cast<const T*>(p.dout);
  const size_t stat0 = size_t(h) * p.total_q + q0;

  for (int j0 = blockIdx.x * kBc; j0 < sk; j0 += gridDim.x * kBc) {  // FA1 Alg. 4 line 6
    // Lines 7-9: load K_j, V_j; dK_j = dV_j = 0 in SRAM.
    fa1::load_rows(Kj, static_cast<const T*>(p.k), k0 + j0, k0 + sk, p.heads_kv, kv_head, kBc);
    fa1::load_rows(Vj, static_cast<const T*>(p.v), k0 + j0, k0 + sk, p.heads_kv, kv_head, kBc);
    for (int i = threadIdx.x; i < kBc * D; i += blockDim.x)
      dKj(i / D, i % D) = 0.f, dVj(i / D, i % D) = 0.f;
    // Causal: query blocks wholly above key block j see none of it; start below them.
    const int i_begin = p.causal ? max(0, (j0 - diag) / kBr * kBr) : 0;
    for (int i0 = i_begin; i0 < sq; i0 += kBr) {  // line 10
      // Line 11: load Q_i, dO_i (L_i and D_i are read per row below).
      fa1::load_rows(Qi, q, q0 + i0, q0 + sq, p.heads_q, h, kBr);
      fa1::load_rows(dOi, dout, q0 + i0, q0 + sq, p.heads_q, h, kBr);
      __syncthreads();
      // Lines 12-13 (recomputation): S_ij = scale Q_i K_j^T, P_ij = exp(S_ij - L_i).
      fa1::matmul_abt(P, Qi, Kj);
      // Line 16: dP_ij = dO_i V_j^T.
      fa1::matmul_abt(dS, dOi, Vj);
      __syncthreads();
      for (int idx = threadIdx.x; idx < kBr * kBc; idx += blockDim.x) {
        const int r = idx / kBc, c = idx % kBc, row = i0 + r, col = j0 + c;
        const bool visible = row < sq && col < sk && (!p.causal || col <= row + diag);
        const float L = visible ? p.lse[stat0 + row] : 0.f;
        P[idx] = visible && L != -INFINITY ? __expf(P[idx] * p.scale - L) : 0.f;
        // Lines 19-20: dS_ij = P_ij o (dP_ij - D_i).
        dS[idx] = visible ? P[idx] * (dS[idx] - p.delta[stat0 + row]) : 0.f;
      }
      __syncthreads();
      // Line 15: dV_j += P_ij^T dO_i.  Line 22: dK_j += scale dS_ij^T Q_i.
      for (int idx = threadIdx.x; idx < kBc * D; idx += blockDim.x) {
        const int c = idx / D, d = idx % D;
        float dv = 0, dk = 0;
        for (int r = 0; r < kBr; ++r) {
          dv += P[r * kBc + c] * dOi(r, d);
          dk += dS[r * kBc + c] * Qi(r, d);
        }
        dVj(c, d) += dv;
        dKj(c, d) += dk * p.scale;
      }
      // Line 21: dQ_i += scale dS_ij K_j (HBM; atomic because in FA2 other key blocks run
      // concurrently -- in FA1 one block owns the head and the atomics never contend).
      for (int idx = threadIdx.x; idx < kBr * D; idx += blockDim.x) {
        const int r = idx / D, d = idx % D;
        if (i0 + r >= sq) continue;
        float dq = 0;
        for (int c = 0; c < kBc; ++c) dq += dS[r * kBc + c] * Kj(c, d);
        atomicAdd(&p.dq_acc[(size_t(h) * p.total_q + q0 + i0 + r) * D + d], dq);  // scaled later
      }
      __syncthreads();
    }
    // Line 24: write dK_j, dV_j (of this query head) to HBM.
    for (int idx = threadIdx.x; idx < kBc * D; idx += blockDim.x) {
      const int c = idx / D, d = idx % D;
      if (j0 + c >= sk) continue;
      const size_t off = (size_t(k0 + j0 + c) * p.heads_q + h) * D + d;
      p.dk_head[off] = dKj(c, d);
      p.dv_head[off] = dVj(c, d);
    }
    __syncthreads();
  }
}

template <typename T>
void launch_tiles(const Problem& pr, const BackwardArgs& a, const BwdScratch& s,
                  bool parallel_over_keys, cudaStream_t stream) {
  BwdParams p{a.fwd.q, a.fwd.k, a.fwd.v, a.dout, a.fwd.lse, s.delta, a.fwd.cu_seqlens_q,
              a.fwd.cu_seqlens_k, s.dq_acc, s.dk_head, s.dv_head, pr.total_q(), pr.heads_q,
              pr.heads_kv, pr.group(), pr.head_dim, pr.scale(), pr.causal};
  const int smem = int(sizeof(float)) *
                   (4 * Tile::floats(kBc, pr.head_dim) + 2 * Tile::floats(kBr, pr.head_dim) +
                    2 * kBr * kBc);
  opt_in_dynamic_smem<backward_kernel<T>>(smem);
  const int key_blocks = std::max(1, (pr.max_seqlen_k() + kBc - 1) / kBc);
  // Grid: (1 [FA1] or key blocks [FA2], heads_q, batch)
  const dim3 grid(parallel_over_keys ? key_blocks : 1, pr.heads_q, pr.batch());
  backward_kernel<T><<<grid, fa1::kThreads, smem, stream>>>(p);
  LLMI_LAUNCH_CHECK();
}
}  // namespace

void run_backward_tiles(const Problem& p, const BackwardArgs& a, const BwdScratch& s,
                        bool parallel_over_keys, cudaStream_t stream) {
  with_element_type(p.dtype, [&](auto type) {
    launch_tiles<decltype(type)>(p, a, s, parallel_over_keys, stream);
  });
}

}  // namespace flash
