// FlashAttention-2 backward on tensor cores (arXiv 2307.08691, Algorithm 2, Sec. 3.2).
//
// One thread block per key block j of 64 keys (the parallelisation over the sequence of
// Sec. 3.2): it keeps K_j, V_j in shared memory and dK_j, dV_j in registers, and streams the
// query blocks i (64 rows, Q_i and dO_i double-buffered with cp.async). Per query block:
//   S = Q_i K_j^T, P = exp(S * scale - L_i)          recomputed from the saved logsumexp (line 11)
//   dP = dO_i V_j^T, dS = P o (dP - D_i)             (lines 14-16)
//   dV_j += P^T dO_i,  dK_j += scale * dS^T Q_i     (lines 12, 17; P and dS go through shared
//                                                    memory and come back transposed by ldmatrix)
//   dQ_i += scale * dS K_j                           (line 15; other key blocks update the same
//                                                    rows concurrently: fp32 atomic adds)
// Warp w (of 4) owns query rows 16w..16w+15 of S, dP and dQ, and keys 16w..16w+15 of dK, dV.
#pragma once
#include <cfloat>

#include "backward_launch.h"
#include "llmi/check.h"
#include "mma_utils.cuh"

namespace flash {

template <typename T, int kD>
struct Fa2BwdTraits {
  static constexpr int kBM = kFa2BwdBlockM, kBN = kFa2BwdBlockN, kThreads = 128;
  static constexpr int kDTiles = kD / 8, kNTiles = kBN / 8;
  // K, V; two stages of Q and dO; P and dS.
  static constexpr int kSmemBytes = (2 * kBN * kD + 4 * kBM * kD + 2 * kBM * kBN) * int(sizeof(T));
  static_assert(kBN == 4 * 16 && kBM % 16 == 0, "4 warps x 16 keys");
};

template <typename T, int kD>
__global__ void __launch_bounds__(128, 1) fa2_backward_kernel(const Fa2BwdParams p) {
  using Tr = Fa2BwdTraits<T, kD>;
  using E = mma::Elem<T>;
  constexpr int kBM = Tr::kBM, kBN = Tr::kBN;
  constexpr float kLog2e = 1.4426950408889634f;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* sK = reinterpret_cast<T*>(smem_raw);  // [kBN][kD]
  T* sV = sK + kBN * kD;                   // [kBN][kD]
  T* sQ = sV + kBN * kD;                   // [2][kBM][kD]
  T* sdO = sQ + 2 * kBM * kD;              // [2][kBM][kD]
  T* sP = sdO + 2 * kBM * kD;              // [kBM][kBN]
  T* sdS = sP + kBM * kBN;                 // [kBM][kBN]

  // Grid: (key blocks, heads_q, batch)
  const int h = blockIdx.y, b = blockIdx.z, kv_head = h / p.group;
  const int q0 = p.cu_seqlens_q[b], sq = p.cu_seqlens_q[b + 1] - q0;
  const int k0 = p.cu_seqlens_k[b], sk = p.cu_seqlens_k[b + 1] - k0;
  const int n0 = blockIdx.x * kBN;
  if (n0 >= sk) return;
  const int diag = sk - sq;  // bottom-right causal: row i sees keys j <= i + diag
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, c = lane % 4;
  const int wrow = warp * 16;
  const T* q = static_cast<const T*>(p.q);
  const T* k = static_cast<const T*>(p.k);
  const T* v = static_cast<const T*>(p.v);
  const T* dout = static_cast<const T*>(p.dout);

  // Line 6: K_j, V_j into shared memory, once.
  const size_t q_stride = size_t(p.heads_q) * kD, kv_stride = size_t(p.heads_kv) * kD;
  const size_t kv_at = (size_t(k0) + n0) * kv_stride + size_t(kv_head) * kD;
  mma::load_rows_async<kBN, kD, Tr::kThreads>(sK, k + kv_at, kv_stride, sk - n0, threadIdx.x);
  mma::load_rows_async<kBN, kD, Tr::kThreads>(sV, v + kv_at, kv_stride, sk - n0, threadIdx.x);
  auto load_q_do = [&](int i0, int stage) {
    const size_t at = (size_t(q0) + i0) * q_stride + size_t(h) * kD;
    mma::load_rows_async<kBM, kD, Tr::kThreads>(sQ + stage * kBM * kD, q + at, q_stride, sq - i0,
                                                 threadIdx.x);
    mma::load_rows_async<kBM, kD, Tr::kThreads>(sdO + stage * kBM * kD, dout + at, q_stride,
                                                 sq - i0, threadIdx.x);
  };
  // Causal: query blocks wholly above this key block see none of it.
  const int i_begin = p.causal ? max(0, (n0 - diag) / kBM * kBM) : 0;
  if (i_begin < sq) load_q_do(i_begin, 0);
  mma::cp_async_commit();

  // ldmatrix addresses of this lane (mma_utils.cuh): Q, dO and their stage-0 transposes; K, V;
  // P^T, dS^T and dS of this warp's rows.
  const mma::LdsmLane<kD> lane_q = mma::lane_a<kD>(sQ, lane, wrow),
                          lane_do = mma::lane_a<kD>(sdO, lane, wrow);
  const mma::LdsmLane<kD> lane_k = mma::lane_b<kD>(sK, lane), lane_v = mma::lane_b<kD>(sV, lane);
  const mma::LdsmLane<kD> lane_q_t = mma::lane_b_trans<kD>(sQ, lane),
                          lane_do_t = mma::lane_b_trans<kD>(sdO, lane),
                          lane_k_t = mma::lane_b_trans<kD>(sK, lane);
  const mma::LdsmLane<kBN> lane_p_t = mma::lane_a_trans<kBN>(sP, lane, wrow),
                           lane_ds_t = mma::lane_a_trans<kBN>(sdS, lane, wrow),
                           lane_ds = mma::lane_a<kBN>(sdS, lane, wrow);

  float acc_dv[Tr::kDTiles][4] = {}, acc_dk[Tr::kDTiles][4] = {};
  for (int i0 = i_begin, it = 0; i0 < sq; i0 += kBM, ++it) {  // line 8: for each query block
    const int stage = it & 1;
    mma::cp_async_wait_all();
    __syncthreads();  // Q_i, dO_i landed; every warp is done with the previous P, dS, stage
    if (i0 + kBM < sq) {
      load_q_do(i0 + kBM, stage ^ 1);
      mma::cp_async_commit();
    }
    const uint32_t stage_bytes = stage * kBM * kD * sizeof(T);
    const mma::LdsmLane<kD> cQ = lane_q.shifted(stage_bytes), cdO = lane_do.shifted(stage_bytes);
    const mma::LdsmLane<kD> cQ_t = lane_q_t.shifted(stage_bytes),
                            cdO_t = lane_do_t.shifted(stage_bytes);

    // ---- S = Q_i K_j^T and dP = dO_i V_j^T for this warp's 16 rows ----
    float acc_s[Tr::kNTiles][4] = {}, acc_dp[Tr::kNTiles][4] = {};
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
      uint32_t aq[4], ado[4];
      mma::ldsm_x4(aq, cQ.addr(kk, 0));
      mma::ldsm_x4(ado, cdO.addr(kk, 0));
#pragma unroll
      for (int np = 0; np < Tr::kNTiles / 2; ++np) {
        uint32_t b0[2], b1[2];
        mma::ldsm_b(b0, b1, lane_k.addr(kk, np * 16));
        mma::mma_16816<T>(acc_s[2 * np], aq, b0);
        mma::mma_16816<T>(acc_s[2 * np + 1], aq, b1);
        mma::ldsm_b(b0, b1, lane_v.addr(kk, np * 16));
        mma::mma_16816<T>(acc_dp[2 * np], ado, b0);
        mma::mma_16816<T>(acc_dp[2 * np + 1], ado, b1);
      }
    }

    // ---- P = exp(S * scale - L) (line 13), dS = P o (dP - D) (line 16), into shared memory ----
    float lse2[2], dlt[2];
#pragma unroll
    for (int hh = 0; hh < 2; ++hh) {
      const int row = i0 + wrow + g + 8 * hh;
      const float L = row < sq ? p.lse[size_t(h) * p.total_q + q0 + row] : -INFINITY;
      lse2[hh] = L == -INFINITY ? INFINITY : L * kLog2e;  // a row that saw no key: P = 0
      dlt[hh] = row < sq ? p.delta[size_t(h) * p.total_q + q0 + row] : 0.f;
    }
#pragma unroll
    for (int nt = 0; nt < Tr::kNTiles; ++nt)
#pragma unroll
      for (int hh = 0; hh < 2; ++hh) {
        const int r = wrow + g + 8 * hh, row = i0 + r;
        float pv[2], ds[2];
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int col = n0 + nt * 8 + 2 * c + e;
          const bool visible = row < sq && col < sk && (!p.causal || col <= row + diag);
          pv[e] = visible ? mma::exp2_approx(acc_s[nt][2 * hh + e] * p.scale_log2 - lse2[hh]) : 0.f;
          ds[e] = pv[e] * (acc_dp[nt][2 * hh + e] - dlt[hh]);
        }
        const int at = mma::swizzle<kBN>(r, nt * 8 + 2 * c);
        *reinterpret_cast<uint32_t*>(sP + at) = E::pack(pv[0], pv[1]);
        *reinterpret_cast<uint32_t*>(sdS + at) = E::pack(ds[0], ds[1]);
      }
    __syncthreads();

    // ---- dV_j += P^T dO_i (line 12), dK_j += dS^T Q_i (line 17): this warp's 16 keys ----
#pragma unroll
    for (int kk = 0; kk < kBM / 16; ++kk) {
      uint32_t ap[4], ads[4];
      mma::ldsm_x4_trans(ap, lane_p_t.addr(0, kk * 16));
      mma::ldsm_x4_trans(ads, lane_ds_t.addr(0, kk * 16));
#pragma unroll
      for (int dp = 0; dp < Tr::kDTiles / 2; ++dp) {
        uint32_t b0[2], b1[2];
        mma::ldsm_b_trans(b0, b1, cdO_t.addr(dp, kk * 16));
        mma::mma_16816<T>(acc_dv[2 * dp], ap, b0);
        mma::mma_16816<T>(acc_dv[2 * dp + 1], ap, b1);
        mma::ldsm_b_trans(b0, b1, cQ_t.addr(dp, kk * 16));
        mma::mma_16816<T>(acc_dk[2 * dp], ads, b0);
        mma::mma_16816<T>(acc_dk[2 * dp + 1], ads, b1);
      }
    }

    // ---- dQ_i += scale dS K_j (line 15), 32 columns at a time, added atomically in fp32 ----
#pragma unroll
    for (int d0 = 0; d0 < kD; d0 += 32) {
      float acc_dq[4][4] = {};
#pragma unroll
      for (int kk = 0; kk < kBN / 16; ++kk) {
        uint32_t a[4];
        mma::ldsm_x4(a, lane_ds.addr(kk, 0));
#pragma unroll
        for (int dp = 0; dp < 2; ++dp) {
          uint32_t b0[2], b1[2];
          mma::ldsm_b_trans(b0, b1, lane_k_t.addr(d0 / 16 + dp, kk * 16));
          mma::mma_16816<T>(acc_dq[2 * dp], a, b0);
          mma::mma_16816<T>(acc_dq[2 * dp + 1], a, b1);
        }
      }
#pragma unroll
      for (int hh = 0; hh < 2; ++hh) {
        const int row = i0 + wrow + g + 8 * hh;
        if (row >= sq) continue;
        float* dq = p.dq_acc + (size_t(q0 + row) * p.heads_q + h) * kD + d0 + 2 * c;
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) {
          atomicAdd(dq + nt * 8, acc_dq[nt][2 * hh] * p.scale);
          atomicAdd(dq + nt * 8 + 1, acc_dq[nt][2 * hh + 1] * p.scale);
        }
      }
    }
  }

  mma::cp_async_wait_all();  // nothing may be in flight at exit (no query block: K/V loads)

  // ---- line 19: write dK_j (scaled), dV_j of this query head (summed over the group later) ----
#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    const int key = n0 + wrow + g + 8 * hh;
    if (key >= sk) continue;
    const size_t off = (size_t(k0 + key) * p.heads_q + h) * kD + 2 * c;
#pragma unroll
    for (int dt = 0; dt < Tr::kDTiles; ++dt) {
      *reinterpret_cast<float2*>(p.dk_head + off + dt * 8) =
          make_float2(acc_dk[dt][2 * hh] * p.scale, acc_dk[dt][2 * hh + 1] * p.scale);
      *reinterpret_cast<float2*>(p.dv_head + off + dt * 8) =
          make_float2(acc_dv[dt][2 * hh], acc_dv[dt][2 * hh + 1]);
    }
  }
}

template <int kD>
void run_fa2_backward_mma(const Fa2BwdParams& p, llmi::DType dtype, int key_blocks, int batch,
                          cudaStream_t stream) {
  auto launch = [&](auto kernel, int smem) {
    LLMI_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    // Grid: (key blocks of the longest sequence, heads_q, batch)
    kernel<<<dim3(key_blocks, p.heads_q, batch), 128, smem, stream>>>(p);
    LLMI_LAUNCH_CHECK();
  };
  if (dtype == llmi::DType::BF16)
    launch(fa2_backward_kernel<__nv_bfloat16, kD>, Fa2BwdTraits<__nv_bfloat16, kD>::kSmemBytes);
  else
    launch(fa2_backward_kernel<__half, kD>, Fa2BwdTraits<__half, kD>::kSmemBytes);
}

}  // namespace flash
