// FlashAttention-2 backward on tensor cores (arXiv 2307.08691, Algorithm 2, Sec. 3.2).
//
// One thread block per key block j of kBlockN = 128 keys (the parallelisation over the sequence
// of Sec. 3.2): it keeps K_j, V_j in shared memory and dK_j, dV_j in registers, and streams the
// query blocks i (kBlockM rows, Q_i and dO_i double-buffered with cp.async). Per query block:
//   S = Q_i K_j^T, P = exp(S * scale - L_i)          recomputed from the saved logsumexp (line 11);
//                                                    P (and at d = 64 half of dS) between the dP
//                                                    GEMM's k-steps
//   dP = dO_i V_j^T, dS = P o (dP - D_i)             (lines 14-16)
//   dQ_i += dS K_j                                   (line 15; other key blocks update the same
//                                                    rows concurrently: fp32 atomic adds, issued
//                                                    a few at a time during the dV/dK GEMM; the
//                                                    epilogue multiplies by the scale once; at
//                                                    d = 64 the k-steps of a warp's own keys take
//                                                    dS from its registers, before the barrier)
//   dV_j += P^T dO_i,  dK_j += scale * dS^T Q_i     (lines 12, 17; P and dS go through shared
//                                                    memory and come back transposed by ldmatrix)
// The tiles and warp layouts are FA2's for sm80 with >= 144 KB of shared memory
// (flash_bwd_launch_template.h): 128 keys per block and 8 warps, each GEMM split over the warps
// in two dimensions so every fragment an ldmatrix loads feeds at least two MMAs, every warp
// owning 32 rows:
//   d = 128: 64 queries per step (Flash_bwd_kernel_traits<128, 64, 128, 8, 2, 4, 2>)
//     S, dP   64 x 128    warps 2 (queries, fastest) x 4 (keys), 32 x 32 each
//     dV, dK  128 x 128   warps 4 (keys) x 2 (d),       32 x 64 each, in registers throughout
//     dQ      64 x 128    warps 2 (queries) x 4 (d),    32 x 32 each
//   d = 64: 128 queries per step (Flash_bwd_kernel_traits<64, 128, 128, 8, 4, 4, 4>), which
//   halves the d = 64 kernel's shared-memory reads per MMA in S and dP against 64 queries
//     S, dP   128 x 128   warps 4 x 2,                  32 x 64 each
//     dV, dK  128 x 64    warps 4 x 2,                  32 x 32 each
//     dQ      128 x 64    warps 4 x 2,                  32 x 32 each
// Non-causal equal-length batches (from 1024 query rows) run the tiles past the last whole wave
// on one persistent block per SM, their query steps shared out evenly (stream_k.h); every other
// tile runs on one block per key block.
// The first version (64 x 64 tile, 4 warps each owning 16 rows of every GEMM) loaded 0.63
// ldmatrix per MMA and added dQ per 64 keys; it was bound by shared-memory traffic (L1 81%
// busy, tensor pipe 24%, ncu on an H200, 2026-12-02) at ~150 TFLOP/s.
#pragma once
#include <cfloat>
#include <type_traits>

#include "backward_launch.h"
#include "block_order.h"
#include "element_type.h"
#include "llmi/check.h"
#include "mma_utils.cuh"
#include "occupancy.h"
#include "smem_opt_in.h"
#include "stream_k.h"

namespace flash {

template <typename T, int kD>
struct Fa2BwdTraits {
  static constexpr int kBN = kFa2BwdBlockN, kBM = fa2_bwd_block_m(kD);
  static constexpr int kWarps = 8, kThreads = 32 * kWarps;
  static_assert(kBN == 128 && (kD == 64 || kD == 128), "the warp layouts below assume these");
  // S, dP and dQ: kRowWarps warps of 32 queries x kColWarps warps of columns (keys or d).
  static constexpr int kRowWarps = kBM / 32, kColWarps = kWarps / kRowWarps;
  static constexpr int kSCols = kBN / kColWarps;   // keys of a warp's S and dP
  static constexpr int kDqCols = kD / kColWarps;   // head-dim columns of a warp's dQ
  static constexpr int kSTiles = kSCols / 8, kDqDTiles = kDqCols / 8;  // n8 tiles
  static constexpr int kKvDTiles = kD / 2 / 8;  // dV, dK: 4 warps of 32 keys x 2 of d / 2
  // Warp w's place in each GEMM's layout (see the header): its first row and column. At
  // d = 128 the S and dP warps run queries fastest (warps w and w + 4, which share a scheduler,
  // then own the same queries): +0.2-0.5% at all six d 128 points in two A/B calls; the same
  // order at d = 64 lost 1.3-1.7% (H200, 2026-12-02, results/h200-2026-12-02-bwd-causal-diagonal).
  static constexpr bool kQueriesFastest = kD == 128;
  static constexpr int s_row(int w) {  // S, dP: queries
    return (kQueriesFastest ? w % kRowWarps : w / kColWarps) * 32;
  }
  static constexpr int s_key(int w) {  // S, dP: keys
    return (kQueriesFastest ? w / kRowWarps : w % kColWarps) * kSCols;
  }
  static constexpr int dq_row(int w) { return w / kColWarps * 32; }     // dQ: queries
  static constexpr int kv_key(int w) { return (w >> 1) * 32; }          // dV, dK: keys
  static constexpr int kv_col(int w) { return (w & 1) * (kD / 2); }     // dV, dK: d
  static constexpr int dq_col(int w) { return w % kColWarps * kDqCols; }  // dQ: d
  // K, V; two stages of Q and dO; P and dS; then two stages of L and D (fp32).
  static constexpr int kSmemBytes =
      (2 * kBN * kD + 4 * kBM * kD + 2 * kBM * kBN) * int(sizeof(T)) + 4 * kBM * int(sizeof(float));
  // A cut tile's partial dK and dV (stream_k.h): every thread's two accumulators, as float4s.
  static constexpr int kPartialFloat4s = 2 * 2 * kKvDTiles * kThreads;
  static_assert(4 * kPartialFloat4s == fa2_bwd_partial_floats(kD), "backward_launch.h's size");
};

// A cut tile's partial sums (stream_k.h) in the threads' register order: float4 j of thread t
// is at slot[j * kThreads + t], so each store and load instruction of a warp is 512 contiguous
// bytes. The loads bypass L1 (another SM wrote the slot).
template <int kThreads, int kTiles>
__device__ __forceinline__ void store_partial(float4* slot, const float (&dk)[2][kTiles][4],
                                              const float (&dv)[2][kTiles][4], int tid) {
#pragma unroll
  for (int j = 0; j < 2 * kTiles; ++j) {
    const float* a = dk[j / kTiles][j % kTiles];
    const float* b = dv[j / kTiles][j % kTiles];
    slot[j * kThreads + tid] = make_float4(a[0], a[1], a[2], a[3]);
    slot[(2 * kTiles + j) * kThreads + tid] = make_float4(b[0], b[1], b[2], b[3]);
  }
}
template <int kThreads, int kTiles>
__device__ __forceinline__ void add_partial(const float4* slot, float (&dk)[2][kTiles][4],
                                            float (&dv)[2][kTiles][4], int tid) {
#pragma unroll
  for (int j = 0; j < 2 * kTiles; ++j) {
    const float4 a = __ldcg(slot + j * kThreads + tid);
    const float4 b = __ldcg(slot + (2 * kTiles + j) * kThreads + tid);
    float* x = dk[j / kTiles][j % kTiles];
    float* y = dv[j / kTiles][j % kTiles];
    x[0] += a.x, x[1] += a.y, x[2] += a.z, x[3] += a.w;
    y[0] += b.x, y[1] += b.y, y[2] += b.z, y[3] += b.w;
  }
}

// acc += A B for a warp's 32 rows (two m16 tiles): kKSteps k-steps of 16, the A fragments by
// ldmatrix from a_lane, the B fragments of n8-tile pair np at k-step kk by load_b(b0, b1, kk, np).
// S and dQ differ only in how B is read (ldmatrix, or .trans for K^T); dP runs its own loop,
// with P and dS computed between its k-steps.
template <typename T, int kKSteps, int kNPairs, int kN, typename ALane, typename LoadB>
__device__ __forceinline__ void warp_rows_gemm(float (&acc)[2][kN][4], const ALane& a_lane,
                                               LoadB load_b) {
#pragma unroll
  for (int kk = 0; kk < kKSteps; ++kk) {
    uint32_t a[2][4];
#pragma unroll
    for (int mt = 0; mt < 2; ++mt) mma::ldsm_x4(a[mt], a_lane.addr(kk, mt * 16));
#pragma unroll
    for (int np = 0; np < kNPairs; ++np) {
      uint32_t b0[2], b1[2];
      load_b(b0, b1, kk, np);
      mma::mma_m_tiles<T>(acc, a, 2 * np, b0, b1);
    }
  }
}

// Whether every (first column, step) the kernel asks of its one-register ldmatrix lanes is one
// ldsm_compact_exact allows (swizzle.h; tests/test_swizzle.cpp checks that rule), for every warp:
// the operands that start at a warp's own column (dV/dK's dO^T and Q^T at kv_col, dQ's K^T at
// dq_col, P^T and dS^T at kv_key, the P and dS blocks it stores at s_key); the others start at
// column 0, where every step is exact.
template <typename Tr>
constexpr bool compact_lanes_exact() {
  for (int w = 0; w < Tr::kWarps; ++w)
    for (int j = 0; j < 8; ++j)
      if ((j < Tr::kKvDTiles / 2 && !mma::ldsm_compact_exact(Tr::kv_col(w), j)) ||
          (j < Tr::kDqDTiles / 2 && !mma::ldsm_compact_exact(Tr::dq_col(w), j)) ||
          (j < 2 && !mma::ldsm_compact_exact(Tr::kv_key(w), j)) ||
          (j < Tr::kSTiles / 2 && !mma::ldsm_compact_exact(Tr::s_key(w), j)))
        return false;
  return true;
}

// Whether each GEMM's warp tiles cover its output block exactly once: S and dP (kBM x kBN in
// tiles of 32 x kSCols), dQ (kBM x kD, 32 x kDqCols) and dV/dK (kBN x kD, 32 x kD / 2). The
// orders differ per GEMM and per head dim (kQueriesFastest); a slip would compute one tile
// twice and another never.
template <typename Tr>
constexpr bool warp_tiles_partition() {
  // Warp w's tile (row, col) of a grid of rows x cols tiles of tile_rows x tile_cols: its slot,
  // or -1 where the corner is off the grid or not on a tile boundary.
  auto slot = [](int row, int col, int tile_rows, int tile_cols, int rows, int cols) {
    const bool on_grid = row % tile_rows == 0 && col % tile_cols == 0 && row >= 0 && col >= 0 &&
                         row / tile_rows < rows && col / tile_cols < cols;
    return on_grid ? row / tile_rows * cols + col / tile_cols : -1;
  };
  constexpr int kHalfD = 8 * Tr::kKvDTiles;
  bool s[Tr::kWarps] = {}, dq[Tr::kWarps] = {}, kv[Tr::kWarps] = {};
  for (int w = 0; w < Tr::kWarps; ++w) {
    const int si = slot(Tr::s_row(w), Tr::s_key(w), 32, Tr::kSCols, Tr::kRowWarps, Tr::kColWarps);
    const int qi =
        slot(Tr::dq_row(w), Tr::dq_col(w), 32, Tr::kDqCols, Tr::kRowWarps, Tr::kColWarps);
    const int ki = slot(Tr::kv_key(w), Tr::kv_col(w), 32, kHalfD, Tr::kBN / 32, 2);
    if (si < 0 || qi < 0 || ki < 0 || s[si] || dq[qi] || kv[ki]) return false;
    s[si] = dq[qi] = kv[ki] = true;
  }
  return true;
}

// Whether every warp's dS block (32 queries x kSCols keys, from the S/dP layout) lies in the
// rows of its own dQ block, and the other kSCols keys of those rows belong to one other warp:
// then half of a warp's dQ k-steps can take dS from the registers that computed it.
template <typename Tr>
constexpr bool dq_rows_are_ds_rows() {
  bool match = Tr::kColWarps == 2 && 2 * Tr::kSCols == Tr::kBN;
  for (int w = 0; w < Tr::kWarps; ++w) match = match && Tr::s_row(w) == Tr::dq_row(w);
  return match;
}

// kSplit: the split part of a stream-K schedule (stream_k.h), one block per SM running its
// pieces of tiles; otherwise one tile per block.
template <typename T, int kD, bool kSplit>
__global__ void __launch_bounds__(256, 1) fa2_backward_kernel(const Fa2BwdParams p) {
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
  float* sLse = reinterpret_cast<float*>(sdS + kBM * kBN);  // [2][kBM]
  float* sDelta = sLse + 2 * kBM;                           // [2][kBM]

  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, g = lane / 4, c = lane % 4;
  constexpr int kSCols = Tr::kSCols, kSTiles = Tr::kSTiles;
  const int s_row = Tr::s_row(warp), s_key = Tr::s_key(warp);
  const int kv_key = Tr::kv_key(warp), kv_col = Tr::kv_col(warp);
  const int dq_row = Tr::dq_row(warp), dq_col = Tr::dq_col(warp);
  const T* q = static_cast<const T*>(p.q);
  const T* k = static_cast<const T*>(p.k);
  const T* v = static_cast<const T*>(p.v);
  const T* dout = static_cast<const T*>(p.dout);

  // ldmatrix addresses of this lane (mma_utils.cuh), stage 0 for Q and dO. Tiles read with the
  // same pattern (Q and dO, K and V, P and dS) differ by constants, which the compiler folds.
  // In one register each (kCompact): both kernels are at 255 registers and spill (H200,
  // 2026-12-02: d 128 251 -> 257 TFLOP/s at 8k; d 64 on the 128 x 128 tile 207 -> 216).
  constexpr bool kCompact = true;
  static_assert(compact_lanes_exact<Tr>(), "an ldmatrix step the one-register lanes get wrong");
  static_assert(warp_tiles_partition<Tr>(), "a GEMM's output tile owned by no warp or by two");
  using LaneD = mma::LdsmLane<kD, kCompact>;
  using LaneN = mma::LdsmLane<kBN, kCompact>;
  constexpr uint32_t kQtoDo = 2 * kBM * kD * sizeof(T), kKtoV = kBN * kD * sizeof(T);
  constexpr uint32_t kPtoDs = kBM * kBN * sizeof(T);
  const LaneD lane_q = mma::lane_a<kD, kCompact>(sQ, lane, s_row), lane_do = lane_q.shifted(kQtoDo);
  const LaneD lane_k = mma::lane_b<kD, kCompact>(sK + s_key * kD, lane),
              lane_v = lane_k.shifted(kKtoV);
  // P^T and dS^T (keys x queries) from the [query][key] tiles: steps j = this warp's m-tiles.
  const LaneN lane_p_t = mma::lane_a_trans<kBN, kCompact>(sP, lane, kv_key),
              lane_ds_t = lane_p_t.shifted(kPtoDs);
  // dO and Q as the B operand of dV and dK (columns kv_col ..), K as the B operand of dQ.
  const LaneD lane_q_t = mma::lane_b_trans<kD, kCompact>(sQ, lane, kv_col),
              lane_do_t = lane_q_t.shifted(kQtoDo),
              lane_k_t = mma::lane_b_trans<kD, kCompact>(sK, lane, dq_col);
  const LaneN lane_ds = mma::lane_a<kBN, kCompact>(sdS, lane, dq_row);
  // This warp's 32 x kSCols blocks of P and dS, stored 16 x 16 at a time by stmatrix (one
  // instruction for four 4-byte stores per lane, and no swizzle arithmetic per store): d 64 231
  // -> 245 TFLOP/s at 8k, d 128 unchanged (H200, 2026-12-02).
  const LaneN lane_p = mma::lane_a<kBN, kCompact>(sP, lane, s_row, s_key);

  const size_t q_stride = size_t(p.heads_q) * kD, kv_stride = size_t(p.heads_kv) * kD;
  // The dP GEMM runs in kDpPasses passes over its n-tiles; from the second pass on, the previous
  // pass's dS is computed between the k-steps. At d = 64 (64 keys of dP per warp) two passes:
  // +2.2-3.2% at all d 64 points, though each pass reloads dO's fragments (+8 ldmatrix per
  // step); at d = 128 (32 keys per warp) the same split lost 2.9-4.2% (H200, 2026-12-02,
  // results/h200-2026-12-02-bwd-p-in-dp).
  constexpr int kDpPasses = kD == 64 ? 2 : 1;
  // dS from P in fp32 (as FA2's own kernel does) or from P rounded to 16 bits (the precision the
  // dV GEMM sees). At d = 64 the fp32 P is still live where each dS block is computed, and using
  // it drops the unpacking (a PRMT and a shift per pair): +1.1-1.7% over the rounded P at all
  // d 64 points (same A/B), though ptxas then spills more (84 bytes of loads against 28). At
  // d = 128 the rounded P takes 16 registers across the dP GEMM instead of 32 (the fp32 P was
  // not measured there).
  constexpr bool kDsFromFp32P = kD == 64;
  // dQ_i = dS K_j over the warp's own keys from the dS it packed in registers, before the barrier
  // that publishes dS (the last pass's dS blocks between those k-steps); only the other warp's
  // keys are read back from shared memory after it. At d = 64 a warp's S/dP rows are its dQ rows
  // (dq_rows_are_ds_rows); at d = 128 (queries fastest in S and dP) they are not.
  constexpr bool kDqFromOwnDs = kD == 64;
  static_assert(!kDqFromOwnDs || (dq_rows_are_ds_rows<Tr>() && kDpPasses == 2),
                "the own-dS dQ k-steps assume one partner warp and dS of two dP passes");

  // The pieces of key blocks this block runs: its own key block, or its share of the split
  // tiles' query steps (stream_k.h). The split kernel keeps them in shared memory and reads each
  // field where it is used: held in registers across the query loop they made ptxas spill more
  // (bf16, d = 128: 472 -> 368 bytes of spill loads; the kernel is at 255 registers).
  __shared__ TilePiece s_pieces[StreamKSchedule::kMaxPieces];
  __shared__ int s_num_pieces;
  if (kSplit) {
    if (tid == 0) {
      s_num_pieces = p.stream_k.pieces(blockIdx.x);
      for (int i = 0; i < s_num_pieces; ++i) s_pieces[i] = p.stream_k.piece(blockIdx.x, i);
    }
    __syncthreads();
  }
  const volatile TilePiece* pieces = s_pieces;
  for (int piece_index = 0; piece_index < (kSplit ? *static_cast<volatile int*>(&s_num_pieces) : 1);
       ++piece_index) {
    // (the role is read after the query loop, where it is used)
    const int tile = kSplit ? pieces[piece_index].tile : int(blockIdx.x);
    const int step_begin = kSplit ? pieces[piece_index].step_begin : 0;
    const int step_end = kSplit ? pieces[piece_index].step_end : 0;
    // Which key block: longest first (block_order.h); under the causal mask the first key block
    // serves every query block.
    const GridBlock blk = lpt_block(tile, p.key_blocks, p.heads_q, p.batch, p.lpt_section);
    const int h = blk.head, b = blk.batch, kv_head = h / p.group;
    const int q0 = p.cu_seqlens_q[b], sq = p.cu_seqlens_q[b + 1] - q0;
    const int k0 = p.cu_seqlens_k[b], sk = p.cu_seqlens_k[b + 1] - k0;
    const int n0 = blk.tile * kBN;
    if (n0 >= sk) continue;  // (one-block-per-tile grids only: stream-K runs on equal lengths)
    const int diag = sk - sq;  // bottom-right causal: row i sees keys j <= i + diag
    // The split kernel runs non-causal grids only; compiled so, it needs no mask registers
    // (spill loads 368 -> 296 bytes; H200, d = 128, 8k: 278 -> 281 TFLOP/s).
    auto causal = [&] { return !kSplit && p.causal; };
    if constexpr (kSplit) __syncthreads();  // every warp is done with the previous piece
    // Line 6: K_j, V_j into shared memory, once.
    const size_t kv_at = (size_t(k0) + n0) * kv_stride + size_t(kv_head) * kD;
    mma::load_rows_async<kBN, kD, Tr::kThreads>(sK, k + kv_at, kv_stride, sk - n0, tid);
    mma::load_rows_async<kBN, kD, Tr::kThreads>(sV, v + kv_at, kv_stride, sk - n0, tid);
    // Q_i, dO_i and the rows' L and D (4-byte copies: varlen rows need not be 16-byte aligned).
    // Rows past the sequence end read zeros: their dO and D are 0, so P's value there adds
    // nothing to dV and their dS is 0.
    auto load_q_do = [&](int i0, int stage) {
      const size_t at = (size_t(q0) + i0) * q_stride + size_t(h) * kD;
      mma::load_rows_async<kBM, kD, Tr::kThreads>(sQ + stage * kBM * kD, q + at, q_stride, sq - i0,
                                                   tid);
      mma::load_rows_async<kBM, kD, Tr::kThreads>(sdO + stage * kBM * kD, dout + at, q_stride,
                                                   sq - i0, tid);
      if (tid < 2 * kBM) {
        const int r = tid % kBM;
        const bool valid = i0 + r < sq;
        const float* src =
            (tid < kBM ? p.lse : p.delta) + size_t(h) * p.total_q + q0 + (valid ? i0 + r : 0);
        mma::cp_async_4_zfill((tid < kBM ? sLse : sDelta) + stage * kBM + r, src, valid);
      }
    };
    // This piece's query blocks [i_begin, i_end); causal: query blocks wholly above this key
    // block see none of it.
    const int causal_begin = causal() ? max(0, (n0 - diag) / kBM * kBM) : 0;
    const int i_begin = kSplit ? max(causal_begin, step_begin * kBM) : causal_begin;
    const int i_end = kSplit ? min(sq, step_end * kBM) : sq;
    if (i_begin < i_end) load_q_do(i_begin, 0);
    mma::cp_async_commit();
    float acc_dv[2][Tr::kKvDTiles][4] = {}, acc_dk[2][Tr::kKvDTiles][4] = {};

    // One query block (Alg. 2 lines 8-18) in pipeline stage `stage` (a compile-time constant, so
    // every shared-memory address is a register plus an immediate).
    auto query_block = [&](int i0, auto stage_constant) {
      constexpr int stage = decltype(stage_constant)::value;
      constexpr uint32_t kStageBytes = stage * kBM * kD * sizeof(T);
      mma::cp_async_wait_all();
      __syncthreads();  // Q_i, dO_i landed; every warp is done with the previous P, dS, stage
      if (i0 + kBM < i_end) {
        load_q_do(i0 + kBM, stage ^ 1);
        mma::cp_async_commit();
      }
      const LaneD cQ = lane_q.shifted(kStageBytes), cdO = lane_do.shifted(kStageBytes);
      const LaneD cQ_t = lane_q_t.shifted(kStageBytes),
                  cdO_t = lane_do_t.shifted(kStageBytes);

      // S and dP: this warp's 32 queries x kSCols keys of X Y^T over d (X = Q or dO, Y = K or V).
      auto load_k = [&](auto& b0, auto& b1, int kk, int np) {
        mma::ldsm_b(b0, b1, lane_k.addr(kk, np * 16));
      };
      auto load_v = [&](auto& b0, auto& b1, int kk, int np) {
        mma::ldsm_b(b0, b1, lane_v.addr(kk, np * 16));
      };

      // ---- S = Q_i K_j^T (line 11) ----
      float acc_s[2][kSTiles][4] = {};
      warp_rows_gemm<T, kD / 16, kSTiles / 2>(acc_s, cQ, load_k);
      float lse2[2][2];  // L * log2(e) of rows g and g + 8 of each m-tile
#pragma unroll
      for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int hh = 0; hh < 2; ++hh) {
          const float L = sLse[stage * kBM + s_row + mt * 16 + g + 8 * hh];
          lse2[mt][hh] = L == -INFINITY ? INFINITY : L * kLog2e;  // a row that saw no key: P = 0
        }
      // P's 16 x 16 block (mt, np) = exp(S * scale - L) (line 13), packed in the A-fragment
      // order ldmatrix and stmatrix use, [(g, n-tile 2np), (g+8, 2np), (g, 2np+1), (g+8, 2np+1)],
      // into shared memory (and kept for dS where kDsFromFp32P is off). Keys past the sequence
      // end and above the causal diagonal are masked (`masked`) in the warp tiles that have any:
      // with the test inside one loop the compiler predicated its three compares and a select
      // into every tile (SASS of dfae46f), so the tiles that need it run their own copy (d 64 at
      // 8k: 245 -> 257 TFLOP/s with the stmatrix stores; d 128 unchanged; H200, 2026-12-02).
      uint32_t p16[2][kSTiles / 2][4];
      auto p_block = [&](int mt, int np, auto masked) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const int nt = 2 * np + i / 2, hh = i % 2;
          float* x = acc_s[mt][nt] + 2 * hh;
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            x[e] = mma::exp2_approx(fmaf(x[e], p.scale_log2, -lse2[mt][hh]));
            if constexpr (decltype(masked)::value) {
              const int col = n0 + s_key + nt * 8 + 2 * c + e;
              if (col >= sk || (causal() && col > i0 + s_row + mt * 16 + g + 8 * hh + diag))
                x[e] = 0.f;
            }
          }
          p16[mt][np][i] = E::pack(x[0], x[1]);
        }
        mma::stsm_x4(lane_p.addr(np, mt * 16), p16[mt][np]);
      };
      // dS's block (mt, np) = P o (dP - D) (line 16), into shared memory.
      float dlt[2][2];  // D of rows g and g + 8 of each m-tile
      auto load_dlt = [&](int mt) {
#pragma unroll
        for (int hh = 0; hh < 2; ++hh)
          dlt[mt][hh] = sDelta[stage * kBM + s_row + mt * 16 + g + 8 * hh];
      };
      // (with one pass, where dS needs them: loaded before the dP GEMM they cost d 128 0.2-0.8%)
      if constexpr (kDpPasses > 1) load_dlt(0), load_dlt(1);
      float acc_dp[2][kSTiles][4] = {};
      uint32_t ds16[kSTiles / 2][2][4];  // [np][mt]: A fragments of dS for the own-keys dQ k-steps
      auto ds_block = [&](int mt, int np) {
        uint32_t(&ds)[4] = ds16[np][mt];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const float* ps = acc_s[mt][2 * np + i / 2] + 2 * (i % 2);  // P, fp32
          const float2 pv = kDsFromFp32P ? make_float2(ps[0], ps[1]) : E::unpack(p16[mt][np][i]);
          const float* dp = acc_dp[mt][2 * np + i / 2] + 2 * (i % 2);
          ds[i] = E::pack(pv.x * (dp[0] - dlt[mt][i % 2]), pv.y * (dp[1] - dlt[mt][i % 2]));
        }
        mma::stsm_x4(lane_p.addr(np, mt * 16) + kPtoDs, ds);
      };

      // ---- dP = dO_i V_j^T (line 14), with P's blocks computed between its k-steps (and, from
      // the second of kDpPasses passes on, the previous pass's dS blocks). Computed after the S
      // GEMM as one block of 32 (d 128) or 64 (d 64) exponentials per lane, the MUFU work had
      // nothing to overlap in its warp, and the two warps of a scheduler reach it together (they
      // meet at every barrier); between the dP MMAs it runs while the tensor pipe works: +3.1-3.5%
      // at all d 64 points, +5.3-7.2% at d 128 (8k 302 -> 323 TFLOP/s; H200, 2026-12-02,
      // results/h200-2026-12-02-bwd-p-in-dp). S and dP are now live together, which ptxas fits
      // (spill loads fell: 108 -> 60 bytes at d 128). The GEMM has its own loop: folded into
      // warp_rows_gemm (the pass's first n-tile pair and the per-k-step work as arguments), the
      // same computation compiled to d 64 code 3.8-4.7% slower (vH-on-final.diff there) ----
      auto dp_gemm_computing_p = [&](auto masked) {
        using Masked = decltype(masked);
        constexpr int kPassPairs = kSTiles / 2 / kDpPasses, kPassBlocks = 2 * kPassPairs;
#pragma unroll
        for (int pass = 0; pass < kDpPasses; ++pass) {
          // this pass's work items: its P blocks, then the previous pass's dS blocks
          const int items = pass == 0 ? kPassBlocks : 2 * kPassBlocks;
#pragma unroll
          for (int kk = 0; kk < kD / 16; ++kk) {
            uint32_t a[2][4];
#pragma unroll
            for (int mt = 0; mt < 2; ++mt) mma::ldsm_x4(a[mt], cdO.addr(kk, mt * 16));
#pragma unroll
            for (int np = pass * kPassPairs; np < (pass + 1) * kPassPairs; ++np) {
              uint32_t b0[2], b1[2];
              load_v(b0, b1, kk, np);
              mma::mma_m_tiles<T>(acc_dp, a, 2 * np, b0, b1);
            }
#pragma unroll
            for (int it = kk * items / (kD / 16); it < (kk + 1) * items / (kD / 16); ++it) {
              const int b = it % kPassBlocks, mt = b / kPassPairs, np = b % kPassPairs;
              if (it < kPassBlocks)
                p_block(mt, pass * kPassPairs + np, Masked());
              else
                ds_block(mt, (pass - 1) * kPassPairs + np);
            }
          }
        }
      };
      if (n0 + s_key + kSCols > sk || (causal() && n0 + s_key + kSCols - 1 > i0 + s_row + diag))
        dp_gemm_computing_p(std::true_type());
      else
        dp_gemm_computing_p(std::false_type());
      // ---- dQ_i += dS K_j (line 15; the epilogue applies the softmax scale once): this warp's 32
      // queries x kDqCols, added atomically during the dV/dK GEMM below. With kDqFromOwnDs the
      // k-steps of the warp's own keys come first, from registers, and the last pass's dS blocks
      // are computed between them; the barrier then publishes dS for the partner's k-steps ----
      constexpr int kLastPassNp = (kDpPasses - 1) * kSTiles / 2 / kDpPasses;  // its first n-pair
      float acc_dq[2][Tr::kDqDTiles][4] = {};
      if constexpr (kDqFromOwnDs) {
        const LaneD own_k_t = lane_k_t.shifted(s_key * kD * sizeof(T));
#pragma unroll
        for (int kk = 0; kk < kSTiles / 2; ++kk) {  // 16 own keys a step: dS n-pair kk
#pragma unroll
          for (int dp = 0; dp < Tr::kDqDTiles / 2; ++dp) {
            uint32_t b0[2], b1[2];
            mma::ldsm_b_trans(b0, b1, own_k_t.addr(dp, kk * 16));
            mma::mma_m_tiles<T>(acc_dq, ds16[kk], 2 * dp, b0, b1);
          }
          if (kLastPassNp + kk < kSTiles / 2) {  // ready before k-step kLastPassNp + kk needs it
#pragma unroll
            for (int mt = 0; mt < 2; ++mt) ds_block(mt, kLastPassNp + kk);
          }
        }
      } else {
#pragma unroll
        for (int mt = 0; mt < 2; ++mt) {
          if constexpr (kDpPasses == 1) load_dlt(mt);
#pragma unroll
          for (int np = kLastPassNp; np < kSTiles / 2; ++np) ds_block(mt, np);
        }
      }
      __syncthreads();
      {
        // keys [key0, key0 + kKeys) of dS, read back from shared memory: the partner warp's, or all.
        // A shift of kSCols = 64 columns is 128 bytes, above the address bits the swizzle's XOR
        // changes (swizzle.h), so the shifted one-register lanes stay exact.
        constexpr int kKeys = kDqFromOwnDs ? kBN - kSCols : kBN;
        const int key0 = kDqFromOwnDs ? kSCols - s_key : 0;
        const LaneN ds_keys = lane_ds.shifted(key0 * sizeof(T));
        const LaneD k_t_keys = lane_k_t.shifted(key0 * kD * sizeof(T));
        auto load_k_t = [&](auto& b0, auto& b1, int kk, int dp) {
          mma::ldsm_b_trans(b0, b1, k_t_keys.addr(dp, kk * 16));
        };
        warp_rows_gemm<T, kKeys / 16, Tr::kDqDTiles / 2>(acc_dq, ds_keys, load_k_t);
      }
      // The accumulator is head-major, so this lane's four rows are one address plus
      // compile-time offsets. Token-major, each row needed its own 64-bit address, and the
      // register holding it could not be rewritten for the next row until the LSU had read it
      // for the previous row's atomics: 9-10% of the kernel's stall samples (ncu source
      // counters, H200, 2026-12-02), though only 0.5-1% of its time (the warps now wait at the
      // atomics' issue instead, on the LSU's global-memory queue).
      const int row0 = i0 + dq_row + g;
      float* const dq = p.dq_acc + (size_t(h) * p.total_q + q0 + row0) * kD + dq_col + 2 * c;
      // Each lane's 16 dQ atomics go out a few per k-step of the dV/dK GEMM (2 at d = 64, 4 at
      // d = 128), between its MMAs. Issued back to back, they filled the LSU queue: a warp stalls
      // at an atomic the queue cannot take (in-order issue), and the next step's cp.async copies
      // and address registers waited behind them. At the end of the step that cost the barrier
      // wait, before the dV/dK GEMM it cost the GEMM (-4.5%); spread, the queue drains under the
      // MMAs, as in PyTorch's FA2 kernel, whose ptxas interleaves its atomics with its dK GEMM:
      // +3.8-4.9% at all 12 points, d 128 8k 288 -> 302 TFLOP/s, d 64 259 -> 270 (H200,
      // 2026-12-02, results/h200-2026-12-02-pytorch-peer).
      constexpr int kAddsPerK = 4 * Tr::kDqDTiles / (kBM / 16);
      static_assert(kAddsPerK * (kBM / 16) == 4 * Tr::kDqDTiles, "the atomics spread evenly");
      // ---- dV_j += P^T dO_i (line 12), dK_j += dS^T Q_i (line 17): this warp's 32 keys x d/2 ----
#pragma unroll
      for (int kk = 0; kk < kBM / 16; ++kk) {
        uint32_t ap[2][4], ads[2][4];
#pragma unroll
        for (int mt = 0; mt < 2; ++mt) {
          mma::ldsm_x4_trans(ap[mt], lane_p_t.addr(mt, kk * 16));
          mma::ldsm_x4_trans(ads[mt], lane_ds_t.addr(mt, kk * 16));
        }
#pragma unroll
        for (int dp = 0; dp < Tr::kKvDTiles / 2; ++dp) {
          uint32_t b0[2], b1[2];
          mma::ldsm_b_trans(b0, b1, cdO_t.addr(dp, kk * 16));
          mma::mma_m_tiles<T>(acc_dv, ap, 2 * dp, b0, b1);
          mma::ldsm_b_trans(b0, b1, cQ_t.addr(dp, kk * 16));
          mma::mma_m_tiles<T>(acc_dk, ads, 2 * dp, b0, b1);
        }
#pragma unroll
        for (int j = kk * kAddsPerK; j < (kk + 1) * kAddsPerK; ++j) {
          const int mt = j / (2 * Tr::kDqDTiles), hh = j / Tr::kDqDTiles % 2;
          const int nt = j % Tr::kDqDTiles;
          if (row0 + mt * 16 + 8 * hh < sq)
            mma::atomic_add2(dq + (mt * 16 + 8 * hh) * kD + nt * 8, acc_dq[mt][nt][2 * hh],
                             acc_dq[mt][nt][2 * hh + 1]);
        }
      }
    };
    for (int i0 = i_begin; i0 < i_end; i0 += 2 * kBM) {  // line 8: for each query block
      query_block(i0, std::integral_constant<int, 0>());
      if (i0 + kBM < i_end) query_block(i0 + kBM, std::integral_constant<int, 1>());
    }

    mma::cp_async_wait_all();  // nothing may be in flight at exit (no query block: K/V loads)

    // A piece of a tile cut between blocks (stream_k.h): hand the partial sums on.
    float4* const partial = reinterpret_cast<float4*>(p.dkv_partial);
    const PieceRole role = kSplit ? pieces[piece_index].role : PieceRole::kWhole;
    if (role == PieceRole::kContribute) {
      store_partial<Tr::kThreads>(partial + size_t(blockIdx.x) * Tr::kPartialFloat4s, acc_dk,
                                  acc_dv, tid);
      __threadfence();  // the partial is visible device-wide before the flag is
      __syncthreads();
      if (tid == 0) atomicExch(p.stream_k_flags + blockIdx.x, 1);
      continue;
    }
    // The last piece of a cut tile: add the partial sums of the blocks that ran its other pieces
    // (each wrote them in its first piece, so long ready), in block order, and clear their
    // flags for the next call.
    if (role == PieceRole::kFinalize) {
      for (int from = pieces[piece_index].first_contributor; from < int(blockIdx.x); ++from) {
        if (tid == 0) {
          while (atomicCAS(p.stream_k_flags + from, 1, 0) != 1) __nanosleep(128);
          __threadfence();
        }
        __syncthreads();
        add_partial<Tr::kThreads>(partial + size_t(from) * Tr::kPartialFloat4s, acc_dk, acc_dv,
                                  tid);
      }
    }

    // ---- line 19: write dK_j (scaled) and dV_j. With one query head per kv head: in the input
    // dtype straight into dK and dV, staged in shared memory (the Q and dO stages, free after the
    // loop) so that every warp stores whole rows of 16-byte chunks; storing the mma fragments
    // from registers, 16 scattered bytes per row and instruction, took 4.7 us per block at
    // d = 128, as long as a query step (2.1 us now; H200 timeline, 2026-12-02). Otherwise per
    // query head in fp32, summed over the group by the epilogue ----
    if (p.group == 1) {
      static_assert(4 * kBM >= 2 * kBN, "dK and dV fit in the two stages of Q and dO");
      T* const sdK = sQ;             // [kBN][kD], swizzled
      T* const sdV = sQ + kBN * kD;  // [kBN][kD]
      __syncthreads();  // every warp is done with the last query block's Q and dO
#pragma unroll
      for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int hh = 0; hh < 2; ++hh)
#pragma unroll
          for (int dt = 0; dt < Tr::kKvDTiles; ++dt) {
            const int at = mma::swizzle<kD>(kv_key + mt * 16 + g + 8 * hh, kv_col + dt * 8 + 2 * c);
            *reinterpret_cast<uint32_t*>(sdK + at) =
                E::pack(acc_dk[mt][dt][2 * hh] * p.scale, acc_dk[mt][dt][2 * hh + 1] * p.scale);
            *reinterpret_cast<uint32_t*>(sdV + at) =
                E::pack(acc_dv[mt][dt][2 * hh], acc_dv[mt][dt][2 * hh + 1]);
          }
      __syncthreads();
      mma::store_rows<kBN, kD, Tr::kThreads>(static_cast<T*>(p.dk) + kv_at, sdK, kv_stride,
                                             sk - n0, tid);
      mma::store_rows<kBN, kD, Tr::kThreads>(static_cast<T*>(p.dv) + kv_at, sdV, kv_stride,
                                             sk - n0, tid);
    } else {
#pragma unroll
      for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int hh = 0; hh < 2; ++hh) {
          const int key = n0 + kv_key + mt * 16 + g + 8 * hh;
          if (key >= sk) continue;
          const size_t off = (size_t(k0 + key) * p.heads_q + h) * kD + kv_col + 2 * c;
#pragma unroll
          for (int dt = 0; dt < Tr::kKvDTiles; ++dt) {
            *reinterpret_cast<float2*>(p.dk_head + off + dt * 8) = make_float2(
                acc_dk[mt][dt][2 * hh] * p.scale, acc_dk[mt][dt][2 * hh + 1] * p.scale);
            *reinterpret_cast<float2*>(p.dv_head + off + dt * 8) =
                make_float2(acc_dv[mt][dt][2 * hh], acc_dv[mt][dt][2 * hh + 1]);
          }
        }
    }
  }
}

template <int kD>
int fa2_backward_slots(llmi::DType dtype) {
  int slots = 0;
  with_element_type(dtype, [&](auto type) {
    using T = decltype(type);
    constexpr int kSmem = Fa2BwdTraits<T, kD>::kSmemBytes;
    opt_in_dynamic_smem<fa2_backward_kernel<T, kD, false>>(kSmem);
    slots = resident_slots<fa2_backward_kernel<T, kD, false>>(Fa2BwdTraits<T, kD>::kThreads, kSmem);
  });
  return slots;
}

template <int kD>
void run_fa2_backward_mma(Fa2BwdParams p, llmi::DType dtype, cudaStream_t stream) {
  with_element_type(dtype, [&](auto type) {
    using T = decltype(type);
    using Tr = Fa2BwdTraits<T, kD>;
    constexpr int kSmem = Tr::kSmemBytes;
    const int slots = fa2_backward_slots<kD>(dtype);
    // Without the mask all tiles are equally long: head-major order (sections of one pair).
    p.lpt_section = p.causal ? lpt_section(p.key_blocks, p.heads_q * p.batch, slots) : 1;
    // One block per (key block, head, sequence), in the order of block_order.h; under
    // stream-K, the whole tiles so, then the rest split over one block per SM.
    const int tiles = p.key_blocks * p.heads_q * p.batch;
    const int whole = p.stream_k.blocks > 0 ? p.stream_k.whole_tiles : tiles;
    if (whole > 0) {
      fa2_backward_kernel<T, kD, false><<<whole, Tr::kThreads, kSmem, stream>>>(p);
      LLMI_LAUNCH_CHECK();
    }
    if (p.stream_k.blocks > 0) {
      opt_in_dynamic_smem<fa2_backward_kernel<T, kD, true>>(kSmem);
      fa2_backward_kernel<T, kD, true><<<p.stream_k.blocks, Tr::kThreads, kSmem, stream>>>(p);
      LLMI_LAUNCH_CHECK();
    }
  });
}

}  // namespace flash
