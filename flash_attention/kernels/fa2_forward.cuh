// FlashAttention-2 forward kernel (arXiv 2307.08691, Algorithm 1), on tensor cores.
//
// One thread block owns one block of kBlockM query rows (FA2 Sec. 3.2: parallel over the
// sequence, not only over batch x heads) and streams the key/value blocks of its sequence
// through shared memory, double-buffered with cp.async. Its kWarps warps split the *query rows*
// (FA2 Sec. 3.3, "split-Q"): every warp reads the same K and V tile, so no warp ever needs
// another warp's partial results -- FA1's "split-K" needed a shared-memory reduction.
//
// Per key block (Alg. 1 lines 6-10), each warp, all in registers:
//   S = Q K^T            mma.sync m16n8k16, Q and K fragments by ldmatrix from shared memory
//   m_new = max(m, rowmax(S)),  P = exp2((S - m_new) * scale * log2e),  l = e^(m-m_new) l + rowsum(P)
//   O = e^(m - m_new) O + P V   (P goes from the S accumulators straight into A fragments)
// O stays *unnormalised* until the end (Sec. 3.1, fewer non-matmul FLOPs): it is divided by l
// once (line 12), and only the logsumexp L = m + log l is saved for the backward (line 13).
//
// Causal masking is bottom-right aligned; key blocks wholly above the diagonal are never
// loaded, and only blocks that straddle it (or the sequence end) pay for the mask.
//
// What made it fast (H200, d 128, 8k: 235 -> 368 TFLOP/s; ncu and SASS in PERFORMANCE_LOG.md):
// index arithmetic out of the inner loop -- cp.async addresses by increments (load_rows_async),
// ldmatrix addresses with the swizzle precomputed (LdsmLane), the stage a compile-time constant --
// which halved the instructions per mma; then the softmax's row reductions as trees, because the
// warps stall on fixed-latency dependencies (two warps per scheduler hide little).
#pragma once
#include <cfloat>
#include <type_traits>

#include "block_order.h"
#include "fa2_forward_launch.h"
#include "llmi/check.h"
#include "mma_utils.cuh"
#include "occupancy.h"
#include "smem_opt_in.h"

namespace flash {

template <typename T_, int kD_, int kBlockM_, int kBlockN_, int kWarps_>
struct Fa2FwdTraits {
  using T = T_;
  static constexpr int kD = kD_, kBlockM = kBlockM_, kBlockN = kBlockN_, kWarps = kWarps_;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kRowsPerWarp = kBlockM / kWarps;
  static constexpr int kMTiles = kRowsPerWarp / 16;  // m16 tiles per warp
  static constexpr int kNTiles = kBlockN / 8;         // n8 tiles of S per warp
  static constexpr int kDTiles = kD / 8;              // n8 tiles of O per warp
  static_assert(kRowsPerWarp % 16 == 0 && kBlockN % 16 == 0 && kD % 64 == 0, "bad tile shape");
  // Q, then two stages of K and of V.
  static constexpr int kSmemBytes = (kBlockM + 4 * kBlockN) * kD * int(sizeof(T));
};

template <typename Tr>
__global__ void __launch_bounds__(Tr::kThreads, 1) fa2_forward_kernel(const Fa2FwdParams p) {
  using T = typename Tr::T;
  using E = mma::Elem<T>;
  constexpr int kD = Tr::kD, kBM = Tr::kBlockM, kBN = Tr::kBlockN;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* sQ = reinterpret_cast<T*>(smem_raw);
  T* sK = sQ + kBM * kD;       // [2][kBN][kD]
  T* sV = sK + 2 * kBN * kD;   // [2][kBN][kD]

  // ---- which tile: longest first (block_order.h); under the causal mask later query blocks
  // see more keys ----
  const GridBlock blk = lpt_block(blockIdx.x, p.num_m_blocks, p.heads_q, p.batch, p.lpt_section);
  const int b = blk.batch, head = blk.head, kv_head = head / p.group;
  const int m_block = p.num_m_blocks - 1 - blk.tile;
  const int q0 = p.cu_seqlens_q[b], sq = p.cu_seqlens_q[b + 1] - q0;
  const int k0 = p.cu_seqlens_k[b], sk = p.cu_seqlens_k[b + 1] - k0;
  const int m0 = m_block * kBM;
  if (m0 >= sq) return;
  const int diag = sk - sq;  // bottom-right alignment: row i sees keys j <= i + diag

  // ---- key blocks this tile visits: causal tiles stop at the diagonal (skipped, not masked) --
  int n_end = (sk + kBN - 1) / kBN;
  if (p.causal) n_end = min(n_end, max(0, (min(m0 + kBM, sq) - 1 + diag + 1 + kBN - 1) / kBN));

  const size_t q_stride = size_t(p.heads_q) * kD, kv_stride = size_t(p.heads_kv) * kD;
  const T* q = static_cast<const T*>(p.q) + size_t(q0 + m0) * q_stride + size_t(head) * kD;
  const T* k = static_cast<const T*>(p.k) + size_t(k0) * kv_stride + size_t(kv_head) * kD;
  const T* v = static_cast<const T*>(p.v) + size_t(k0) * kv_stride + size_t(kv_head) * kD;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int g = lane / 4, c = lane % 4;
  const int warp_row0 = warp * Tr::kRowsPerWarp;

  float acc_o[Tr::kMTiles][Tr::kDTiles][4] = {};
  // Row max of the raw scores S (not yet scaled) and per-lane partial row sums.
  float row_max[Tr::kMTiles][2], row_sum[Tr::kMTiles][2];
#pragma unroll
  for (int mt = 0; mt < Tr::kMTiles; ++mt)
    for (int h = 0; h < 2; ++h) row_max[mt][h] = -INFINITY, row_sum[mt][h] = 0;

  auto load_kv = [&](int n_block, int stage) {
    const int n0 = n_block * kBN;
    mma::load_rows_async<kBN, kD, Tr::kThreads>(sK + stage * kBN * kD, k + n0 * kv_stride,
                                                 kv_stride, sk - n0, tid);
    mma::load_rows_async<kBN, kD, Tr::kThreads>(sV + stage * kBN * kD, v + n0 * kv_stride,
                                                 kv_stride, sk - n0, tid);
  };

  // ldmatrix addresses of this lane (Q: this warp's rows; K and V: stage 0).
  const mma::LdsmLane<kD> lane_q = mma::lane_a<kD>(sQ, lane, warp_row0);
  const mma::LdsmLane<kD> lane_k = mma::lane_b<kD>(sK, lane), lane_v = mma::lane_b_trans<kD>(sV, lane);

  if (n_end > 0) {
    // Alg. 1 line 4: load Q_i once; line 6: first K_j, V_j.
    mma::load_rows_async<kBM, kD, Tr::kThreads>(sQ, q, q_stride, sq - m0, tid);
    load_kv(0, 0);
    mma::cp_async_commit();
  }

  // One key block (Alg. 1 lines 6-10) in pipeline stage `stage`: a compile-time stage makes
  // every shared-memory address a register plus an immediate.
  auto key_block = [&](int n_block, auto stage_constant) {
    constexpr int stage = decltype(stage_constant)::value;
    mma::cp_async_wait_all();
    __syncthreads();  // this stage has landed; every warp is done with the other stage
    if (n_block + 1 < n_end) {  // prefetch the next K_j, V_j while this one is computed
      load_kv(n_block + 1, stage ^ 1);
      mma::cp_async_commit();
    }
    constexpr uint32_t kStageBytes = stage * kBN * kD * sizeof(T);
    const mma::LdsmLane<kD> cK = lane_k.shifted(kStageBytes), cV = lane_v.shifted(kStageBytes);

    // ---- S = Q_i K_j^T (Alg. 1 line 8) ----
    float acc_s[Tr::kMTiles][Tr::kNTiles][4] = {};
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
      uint32_t a[Tr::kMTiles][4];
#pragma unroll
      for (int mt = 0; mt < Tr::kMTiles; ++mt) mma::ldsm_x4(a[mt], lane_q.addr(kk, mt * 16));
#pragma unroll
      for (int np = 0; np < Tr::kNTiles / 2; ++np) {
        uint32_t b0[2], b1[2];
        mma::ldsm_b(b0, b1, cK.addr(kk, np * 16));
        mma::mma_m_tiles<T>(acc_s, a, 2 * np, b0, b1);
      }
    }

    // ---- mask: only blocks at the sequence end or straddling this warp's causal diagonal ----
    const int n0 = n_block * kBN;
    if (n0 + kBN > sk || (p.causal && n0 + kBN - 1 > m0 + warp_row0 + diag)) {
#pragma unroll
      for (int mt = 0; mt < Tr::kMTiles; ++mt)
#pragma unroll
        for (int nt = 0; nt < Tr::kNTiles; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int col = n0 + nt * 8 + 2 * c + (e & 1);
            const int row = m0 + warp_row0 + mt * 16 + g + (e >> 1) * 8;
            if (col >= sk || (p.causal && col > row + diag)) acc_s[mt][nt][e] = -INFINITY;
          }
    }

    // ---- online softmax (Alg. 1 lines 9-10), base 2 with the scale folded in (FA2's
    // softmax_rescale_o): P = exp2(S * scale_log2 - m * scale_log2), one FFMA and one MUFU per
    // score. Rows g and g+8 of each m-tile; a row lives in the 4 lanes of a quad, so its max is
    // reduced with two xor-shuffles. The lane's 2 * kNTiles values of a row are reduced as a
    // pairwise tree, not a serial chain: the chain's latency is what these warps stall on ----
    constexpr int kRowVals = 2 * Tr::kNTiles;
#pragma unroll
    for (int mt = 0; mt < Tr::kMTiles; ++mt)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        float v[kRowVals];
#pragma unroll
        for (int i = 0; i < kRowVals; ++i) v[i] = acc_s[mt][i / 2][2 * h + i % 2];
        float mx = fmaxf(row_max[mt][h], mma::tree_reduce<kRowVals>(v, fmaxf));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        // A row that has seen only masked keys keeps m = -inf; use 0 so exp2 gives 0, not NaN.
        const float m_scaled = (mx == -INFINITY ? 0.f : mx) * p.scale_log2;
        const float correction = mma::exp2_approx(row_max[mt][h] * p.scale_log2 - m_scaled);
        row_max[mt][h] = mx;
#pragma unroll
        for (int i = 0; i < kRowVals; ++i) {
          float& s = acc_s[mt][i / 2][2 * h + i % 2];
          v[i] = s = mma::exp2_approx(fmaf(s, p.scale_log2, -m_scaled));
        }
        const float sum = mma::tree_reduce<kRowVals>(v, [](float a, float b) { return a + b; });
        row_sum[mt][h] = row_sum[mt][h] * correction + sum;  // per-lane partial, reduced at end
#pragma unroll
        for (int dt = 0; dt < Tr::kDTiles; ++dt)
          acc_o[mt][dt][2 * h] *= correction, acc_o[mt][dt][2 * h + 1] *= correction;
      }

    // ---- O += P V_j (Alg. 1 line 10): the S accumulator of key columns 16kk..16kk+15 is, after
    // rounding, exactly the A fragment of that k-step; V fragments come transposed ----
#pragma unroll
    for (int kk = 0; kk < kBN / 16; ++kk) {
      uint32_t a[Tr::kMTiles][4];
#pragma unroll
      for (int mt = 0; mt < Tr::kMTiles; ++mt) {
        const float* s0 = acc_s[mt][2 * kk];
        const float* s1 = acc_s[mt][2 * kk + 1];
        a[mt][0] = E::pack(s0[0], s0[1]);
        a[mt][1] = E::pack(s0[2], s0[3]);
        a[mt][2] = E::pack(s1[0], s1[1]);
        a[mt][3] = E::pack(s1[2], s1[3]);
      }
#pragma unroll
      for (int dp = 0; dp < Tr::kDTiles / 2; ++dp) {
        uint32_t b0[2], b1[2];
        mma::ldsm_b_trans(b0, b1, cV.addr(dp, kk * 16));
        mma::mma_m_tiles<T>(acc_o, a, 2 * dp, b0, b1);
      }
    }
  };
  for (int n_block = 0; n_block < n_end; n_block += 2) {
    key_block(n_block, std::integral_constant<int, 0>());
    if (n_block + 1 < n_end) key_block(n_block + 1, std::integral_constant<int, 1>());
  }

  // ---- epilogue (Alg. 1 lines 12-13): O / l once, L = m + log l (natural log). A row with no
  // visible key (fully masked) has l = 0: it writes O = 0 and L = -inf ----
  constexpr float kLn2 = 0.6931471805599453f;
#pragma unroll
  for (int mt = 0; mt < Tr::kMTiles; ++mt)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float l = row_sum[mt][h];
      l += __shfl_xor_sync(0xffffffffu, l, 1);
      l += __shfl_xor_sync(0xffffffffu, l, 2);
      const float inv = l > 0 ? 1.f / l : 0.f;
      const float lse = l > 0 ? (row_max[mt][h] * p.scale_log2 + __log2f(l)) * kLn2 : -INFINITY;
      const int r = warp_row0 + mt * 16 + g + 8 * h;
      if (m0 + r >= sq) continue;
      T* out = static_cast<T*>(p.out) + size_t(q0 + m0 + r) * q_stride + size_t(head) * kD;
#pragma unroll
      for (int dt = 0; dt < Tr::kDTiles; ++dt)
        *reinterpret_cast<uint32_t*>(out + dt * 8 + 2 * c) =
            E::pack(acc_o[mt][dt][2 * h] * inv, acc_o[mt][dt][2 * h + 1] * inv);
      if (c == 0 && p.lse) p.lse[size_t(head) * p.total_q + q0 + m0 + r] = lse;
    }
}

// Launches fa2_forward_kernel for one tile configuration.
template <typename Tr>
void launch_fa2_forward(Fa2FwdParams p, cudaStream_t stream) {
  opt_in_dynamic_smem<fa2_forward_kernel<Tr>>(Tr::kSmemBytes);
  // Without the mask all tiles are equally long: head-major order (sections of one pair).
  p.lpt_section = p.causal ? lpt_section(p.num_m_blocks, p.heads_q * p.batch,
                                         resident_slots<fa2_forward_kernel<Tr>>(
                                             Tr::kThreads, Tr::kSmemBytes))
                           : 1;
  // Grid: every (query-row block, head, sequence), in the order of block_order.h
  const int blocks = p.num_m_blocks * p.heads_q * p.batch;
  fa2_forward_kernel<Tr><<<blocks, Tr::kThreads, Tr::kSmemBytes, stream>>>(p);
  LLMI_LAUNCH_CHECK();
}

}  // namespace flash
