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
//   m_new = max(m, rowmax(S)),  P = exp2(S*scale*log2e - m_new),  l = e^(m-m_new) l + rowsum(P)
//   O = e^(m - m_new) O + P V   (P goes from the S accumulators straight into A fragments)
// O stays *unnormalised* until the end (Sec. 3.1, fewer non-matmul FLOPs): it is divided by l
// once (line 12), and only the logsumexp L = m + log l is saved for the backward (line 13).
//
// Options resolved at run time (they only change index arithmetic outside the inner loop):
//   causal      bottom-right aligned; key blocks wholly above the diagonal are never loaded, and
//               only blocks that straddle it (or the sequence end) pay for the mask
//   pack_gqa    rows of a tile are (token, query head) pairs of one kv head, so a decode step
//               of 1 token x 4 query heads fills 4 rows of one tile instead of 4 tiles
//   num_splits  > 1: each block covers a slice of the key range and writes an fp32 partial O
//               and its lse, for a logsumexp merge (Flash-Decoding)
// fa2_forward sets pack_gqa = false and num_splits = 1: decode now has its own kernel
// (flash_decode.cu). The two options stay until a prefill run shows that removing them costs
// nothing: without them ptxas allocated this kernel's registers differently (d = 128 spills
// 104/104 bytes instead of 84/116), and the H200 quick run of 2026-12-02 measured the forward
// 2-5% slower at seq 512-2048 while the untouched kernels matched to 1%.
#pragma once
#include <cfloat>

#include "fa2_forward_launch.h"
#include "llmi/check.h"
#include "mma_utils.cuh"

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

  // ---- which tile: Grid (num_m_blocks * num_splits, heads_q or heads_kv if packed, batch) --
  const int b = blockIdx.z;
  const int split = blockIdx.x / p.num_m_blocks;
  // Longest blocks first: under the causal mask later query blocks see more keys.
  const int m_block = p.num_m_blocks - 1 - blockIdx.x % p.num_m_blocks;
  const int q0 = p.cu_seqlens_q[b], sq = p.cu_seqlens_q[b + 1] - q0;
  const int k0 = p.cu_seqlens_k[b], sk = p.cu_seqlens_k[b + 1] - k0;
  const int rows = p.pack_gqa ? sq * p.group : sq;
  const int m0 = m_block * kBM;
  if (m0 >= rows) return;
  const int kv_head = p.pack_gqa ? blockIdx.y : blockIdx.y / p.group;
  // Tile row r -> (token within the sequence, query head).
  auto token_of = [&](int r) { return p.pack_gqa ? (m0 + r) / p.group : m0 + r; };
  auto head_of = [&](int r) {
    return p.pack_gqa ? kv_head * p.group + (m0 + r) % p.group : int(blockIdx.y);
  };
  const int diag = sk - sq;  // bottom-right alignment: token i sees keys j <= i + diag

  // ---- key blocks this tile visits: causal tiles stop at the diagonal (skipped, not masked) --
  const int n_blocks_seq = (sk + kBN - 1) / kBN;
  int n_end = n_blocks_seq;
  if (p.causal) {
    const int last_token = token_of(min(kBM, rows - m0) - 1);
    n_end = min(n_end, max(0, (last_token + diag + 1 + kBN - 1) / kBN));
  }
  const int per_split = (n_blocks_seq + p.num_splits - 1) / p.num_splits;
  const int n_begin = split * per_split;
  n_end = min(n_end, n_begin + per_split);

  const T* q = static_cast<const T*>(p.q);
  const T* k = static_cast<const T*>(p.k);
  const T* v = static_cast<const T*>(p.v);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int g = lane / 4, c = lane % 4;
  const int warp_row0 = warp * Tr::kRowsPerWarp;

  float acc_o[Tr::kMTiles][Tr::kDTiles][4] = {};
  float row_max[Tr::kMTiles][2], row_sum[Tr::kMTiles][2];
#pragma unroll
  for (int mt = 0; mt < Tr::kMTiles; ++mt)
    for (int h = 0; h < 2; ++h) row_max[mt][h] = -INFINITY, row_sum[mt][h] = 0;

  auto load_kv = [&](int n_block, int stage) {
    const int n0 = n_block * kBN;
    auto row = [&](const T* base) {
      return [=](int r) -> const T* {
        return n0 + r < sk ? base + (size_t(k0 + n0 + r) * p.heads_kv + kv_head) * kD : nullptr;
      };
    };
    mma::load_tile_async<kBN, kD, Tr::kThreads>(sK + stage * kBN * kD, k, row(k));
    mma::load_tile_async<kBN, kD, Tr::kThreads>(sV + stage * kBN * kD, v, row(v));
  };

  if (n_begin < n_end) {
    // Alg. 1 line 4: load Q_i once; line 6: first K_j, V_j.
    mma::load_tile_async<kBM, kD, Tr::kThreads>(sQ, q, [&](int r) -> const T* {
      return m0 + r < rows ? q + (size_t(q0 + token_of(r)) * p.heads_q + head_of(r)) * kD
                           : nullptr;
    });
    load_kv(n_begin, 0);
    mma::cp_async_commit();
  }

  for (int n_block = n_begin; n_block < n_end; ++n_block) {
    const int stage = (n_block - n_begin) & 1;
    mma::cp_async_wait_all();
    __syncthreads();  // this stage has landed; every warp is done with the other stage
    if (n_block + 1 < n_end) {  // prefetch the next K_j, V_j while this one is computed
      load_kv(n_block + 1, stage ^ 1);
      mma::cp_async_commit();
    }
    const T* cK = sK + stage * kBN * kD;
    const T* cV = sV + stage * kBN * kD;

    // ---- S = Q_i K_j^T (Alg. 1 line 8) ----
    float acc_s[Tr::kMTiles][Tr::kNTiles][4] = {};
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
      uint32_t a[Tr::kMTiles][4];
#pragma unroll
      for (int mt = 0; mt < Tr::kMTiles; ++mt)
        mma::load_a<kD>(a[mt], sQ, warp_row0 + mt * 16, kk * 16, lane);
#pragma unroll
      for (int np = 0; np < Tr::kNTiles / 2; ++np) {
        uint32_t b0[2], b1[2];
        mma::load_b<kD>(b0, b1, cK, np * 16, kk * 16, lane);
#pragma unroll
        for (int mt = 0; mt < Tr::kMTiles; ++mt) {
          mma::mma_16816<T>(acc_s[mt][2 * np], a[mt], b0);
          mma::mma_16816<T>(acc_s[mt][2 * np + 1], a[mt], b1);
        }
      }
    }

    // ---- mask: only blocks at the sequence end or straddling the causal diagonal ----
    const int n0 = n_block * kBN;
    const bool need_mask =
        n0 + kBN > sk || (p.causal && n0 + kBN - 1 > token_of(warp_row0) + diag);
#pragma unroll
    for (int mt = 0; mt < Tr::kMTiles; ++mt)
#pragma unroll
      for (int nt = 0; nt < Tr::kNTiles; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          float& s = acc_s[mt][nt][e];
          s *= p.scale_log2;
          if (need_mask) {
            const int col = n0 + nt * 8 + 2 * c + (e & 1);
            const int tok = token_of(warp_row0 + mt * 16 + g + (e >> 1) * 8);
            if (col >= sk || (p.causal && col > tok + diag)) s = -INFINITY;
          }
        }

    // ---- online softmax (Alg. 1 lines 9-10): rows g and g+8 of each m-tile; a row lives in
    // the 4 lanes of a quad, so its max is reduced with two xor-shuffles ----
#pragma unroll
    for (int mt = 0; mt < Tr::kMTiles; ++mt)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        float mx = row_max[mt][h];
#pragma unroll
        for (int nt = 0; nt < Tr::kNTiles; ++nt)
          mx = fmaxf(mx, fmaxf(acc_s[mt][nt][2 * h], acc_s[mt][nt][2 * h + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        // A row that has seen only masked keys keeps m = -inf; use 0 so exp2 gives 0, not NaN.
        const float m_use = mx == -INFINITY ? 0.f : mx;
        const float correction = mma::exp2_approx(row_max[mt][h] - m_use);
        row_max[mt][h] = mx;
        float sum = 0;
#pragma unroll
        for (int nt = 0; nt < Tr::kNTiles; ++nt)
#pragma unroll
          for (int e = 2 * h; e < 2 * h + 2; ++e)
            sum += (acc_s[mt][nt][e] = mma::exp2_approx(acc_s[mt][nt][e] - m_use));
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
        mma::load_b_trans<kD>(b0, b1, cV, dp * 16, kk * 16, lane);
#pragma unroll
        for (int mt = 0; mt < Tr::kMTiles; ++mt) {
          mma::mma_16816<T>(acc_o[mt][2 * dp], a[mt], b0);
          mma::mma_16816<T>(acc_o[mt][2 * dp + 1], a[mt], b1);
        }
      }
    }
  }

  // ---- epilogue (Alg. 1 lines 12-13): O / l once, L = m + log l. A row with no visible key
  // (n_begin == n_end, or fully masked) has l = 0: it writes O = 0 and L = -inf ----
  constexpr float kLn2 = 0.6931471805599453f;
#pragma unroll
  for (int mt = 0; mt < Tr::kMTiles; ++mt)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float l = row_sum[mt][h];
      l += __shfl_xor_sync(0xffffffffu, l, 1);
      l += __shfl_xor_sync(0xffffffffu, l, 2);
      const float inv = l > 0 ? 1.f / l : 0.f;
      const float lse = l > 0 ? (row_max[mt][h] + __log2f(l)) * kLn2 : -INFINITY;
      const int r = warp_row0 + mt * 16 + g + 8 * h;
      if (m0 + r >= rows) continue;
      const int tok = q0 + token_of(r), head = head_of(r);
      const size_t o_off = (size_t(tok) * p.heads_q + head) * kD;
      const size_t l_off = size_t(head) * p.total_q + tok;
      if (p.num_splits == 1) {
        T* out = static_cast<T*>(p.out) + o_off;
#pragma unroll
        for (int dt = 0; dt < Tr::kDTiles; ++dt)
          *reinterpret_cast<uint32_t*>(out + dt * 8 + 2 * c) =
              E::pack(acc_o[mt][dt][2 * h] * inv, acc_o[mt][dt][2 * h + 1] * inv);
        if (c == 0 && p.lse) p.lse[l_off] = lse;
      } else {
        float* out = p.out_partial + size_t(split) * p.total_q * p.heads_q * kD + o_off;
#pragma unroll
        for (int dt = 0; dt < Tr::kDTiles; ++dt)
          *reinterpret_cast<float2*>(out + dt * 8 + 2 * c) =
              make_float2(acc_o[mt][dt][2 * h] * inv, acc_o[mt][dt][2 * h + 1] * inv);
        if (c == 0) p.lse_partial[size_t(split) * p.heads_q * p.total_q + l_off] = lse;
      }
    }
}

// Launches fa2_forward_kernel for one tile configuration.
template <typename Tr>
void launch_fa2_forward(const Fa2FwdParams& p, int grid_y, int batch, cudaStream_t stream) {
  static bool configured = false;  // opt in to > 48 KB of dynamic shared memory once
  if (!configured) {
    LLMI_CUDA_CHECK(cudaFuncSetAttribute(fa2_forward_kernel<Tr>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         Tr::kSmemBytes));
    configured = true;
  }
  // Grid: (query-row blocks x splits, heads_q -- or heads_kv when GQA is packed --, batch)
  const dim3 grid(p.num_m_blocks * p.num_splits, grid_y, batch);
  fa2_forward_kernel<Tr><<<grid, Tr::kThreads, Tr::kSmemBytes, stream>>>(p);
  LLMI_LAUNCH_CHECK();
}

}  // namespace flash
