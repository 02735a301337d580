// Flash-Decoding (Dao, Haziza, Massa, Sizov, "Flash-Decoding for long-context inference", 2023):
// attention of a few new queries against a long KV cache, on tensor cores.
//
// Decode is a pass over K and V: each byte is read once, and there are ~4 flops per byte, so
// the kernel is bound by memory bandwidth and its job is to keep enough bytes in flight on every
// SM. At batch 1 with 8 kv heads, FA2's grid (one block per query tile) has 8 blocks for 132
// SMs, hence the split of the key range:
//
//   * rows: a tile is 16 (token, query head) pairs of one kv head (FA2's PackGQA), so one token
//     x 4 query heads of a GQA group is one m16 mma tile, and K/V are read once per group;
//   * blocks: the keys of a tile are cut into num_splits slices, one thread block each
//     (grid = tiles x splits); each writes a partial O and its logsumexp;
//   * warps: inside a block, each warp streams its own key tiles (warp w takes tiles w, w + W,
//     ...) through its own kStages-deep cp.async pipeline, so a warp waits only for its own
//     loads -- no block-wide barrier in the main loop -- and W * (kStages - 1) tiles are in
//     flight per block. This is FA1's "split-K" warp partitioning, which FA2 Sec. 3.3 replaced
//     for prefill because the warps must merge through shared memory; with 16 rows there is no
//     query dimension left to split, and the merge is once per block;
//   * merge: warps merge their (m, l, O) through shared memory (FA1 Alg. 1 line 12's rescaling),
//     and the last block of a tile to finish merges the splits' partials by their logsumexps,
//     O = sum_s exp(L_s - L) O_s, found by an atomic counter (the threadfence-reduction pattern
//     of the CUDA Programming Guide), so there is no second kernel launch.
//
// Per key tile each warp runs FA2 Alg. 1 lines 8-10 as the prefill kernel does (fa2_forward.cuh):
// S = Q K^T by mma.sync m16n8k16, online softmax in registers (base 2), O += P V with P taken
// from the S accumulators.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cfloat>

#include "flash_decode_launch.h"
#include "element_type.h"
#include "llmi/check.h"
#include "llmi/pdl.cuh"
#include "mma_utils.cuh"
#include "occupancy.h"
#include "smem_opt_in.h"

namespace flash {

namespace {

template <typename T_, int kD_, int kWarps_, int kStages_, int kBlockN_>
struct DecodeTraits {
  using T = T_;
  static constexpr int kD = kD_, kWarps = kWarps_, kStages = kStages_, kBlockN = kBlockN_;
  static constexpr int kRows = kDecodeRows, kThreads = 32 * kWarps;
  static constexpr int kNTiles = kBlockN / 8;  // n8 tiles of S
  static constexpr int kDTiles = kD / 8;       // n8 tiles of O
  static constexpr int kChunks = kD / 8;       // 16-byte chunks per row
  static constexpr int kStageElems = kBlockN * kD;
  static_assert(kBlockN % 16 == 0 && kD % 64 == 0 && 32 % kChunks == 0, "bad decode tile");
  // Epilogue, in the pipeline's shared memory once it is drained: each warp's O (rows padded by
  // 8 floats against bank conflicts), then per-(warp, row) m, l and weight, and per-row lse.
  static constexpr int kOStride = kD + 8;
  static constexpr int kMergeFloats = kWarps * kRows * (kOStride + 3) + kRows;
  static constexpr int kPipeBytes = kWarps * kStages * 2 * kStageElems * int(sizeof(T));
  static_assert(kMergeFloats * 4 <= kPipeBytes, "the epilogue must fit in the pipeline's smem");
  // Q, then per warp kStages stages of K and of V.
  static constexpr int kSmemBytes = kRows * kD * int(sizeof(T)) + kPipeBytes;
};

// atomicAdd with acquire-release semantics at GPU scope; returns the old value.
__device__ __forceinline__ int atomic_add_acq_rel_gpu(int* address, int value) {
  int old;
  asm volatile("atom.acq_rel.gpu.global.add.s32 %0, [%1], %2;"
               : "=r"(old)
               : "l"(address), "r"(value)
               : "memory");
  return old;
}

template <typename Tr>
__global__ void __launch_bounds__(Tr::kThreads, 1) flash_decode_kernel(const DecodeParams p) {
  using T = typename Tr::T;
  using E = mma::Elem<T>;
  constexpr int kD = Tr::kD, kBN = Tr::kBlockN, kRows = Tr::kRows, kW = Tr::kWarps;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* sQ = reinterpret_cast<T*>(smem_raw);
  T* const pipe = sQ + kRows * kD;

  // ---- which tile and which slice of its keys: grid (num_m_blocks * num_splits, heads_kv, batch)
  const int b = blockIdx.z, kv_head = blockIdx.y;
  const int split = blockIdx.x / p.num_m_blocks, m_block = blockIdx.x % p.num_m_blocks;
  const int q0 = p.cu_seqlens_q[b], sq = p.cu_seqlens_q[b + 1] - q0;
  const int k0 = p.cu_seqlens_k[b], sk = p.cu_seqlens_k[b + 1] - k0;
  const int rows = sq * p.group, m0 = m_block * kRows;
  if (m0 >= rows) return;  // a shorter sequence of the batch: no block of this tile does work
  auto token_of = [&](int r) { return (m0 + r) / p.group; };  // within the sequence
  auto head_of = [&](int r) { return kv_head * p.group + (m0 + r) % p.group; };
  const int diag = sk - sq;  // bottom-right causal alignment: token i sees keys j <= i + diag

  // Key tiles this tile sees (causal: up to its last row's diagonal), cut into num_splits slices.
  int n_tiles = (sk + kBN - 1) / kBN;
  if (p.causal) {
    const int last_token = token_of(min(kRows, rows - m0) - 1);
    n_tiles = min(n_tiles, max(0, (last_token + diag + 1 + kBN - 1) / kBN));
  }
  const int per_split = (n_tiles + p.num_splits - 1) / p.num_splits;
  const int n_begin = min(n_tiles, split * per_split);
  const int n_end = min(n_tiles, n_begin + per_split);

  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int g = lane / 4, c = lane % 4;
  const T* q = static_cast<const T*>(p.q);
  const size_t kv_stride = size_t(p.heads_kv) * kD;  // between consecutive tokens' rows
  const T* k_head = static_cast<const T*>(p.k) + (size_t(k0) * p.heads_kv + kv_head) * kD;
  const T* v_head = static_cast<const T*>(p.v) + (size_t(k0) * p.heads_kv + kv_head) * kD;

  // This warp's key tiles: n_begin + warp, + kW, ...; stage i % kStages holds its i-th.
  const int my_tiles = max(0, (n_end - n_begin - warp + kW - 1) / kW);
  T* const sK = pipe + warp * Tr::kStages * 2 * Tr::kStageElems;
  T* const sV = sK + Tr::kStages * Tr::kStageElems;
  auto tile_n0 = [&](int i) { return (n_begin + warp + i * kW) * kBN; };
  auto load_tile = [&](int i) {
    const int stage = i % Tr::kStages;
    // One warp copies rows [n0, n0 + kBlockN) of its kv head; rows >= sk are zero-filled (their
    // scores are masked and their V rows then add nothing).
    const int n0 = tile_n0(i);
    mma::load_rows_async<kBN, kD, 32>(sK + stage * Tr::kStageElems, k_head + n0 * kv_stride,
                                      kv_stride, sk - n0, lane);
    mma::load_rows_async<kBN, kD, 32>(sV + stage * Tr::kStageElems, v_head + n0 * kv_stride,
                                      kv_stride, sk - n0, lane);
  };

  // ---- prologue (programmatic dependent launch, llmi/pdl.cuh): the next kernel may be
  // scheduled as soon as this grid runs. Cached keys [0, sk - sq) were appended before the
  // previous kernel in the stream (the flash_decode contract for DecodeOptions::
  // overlap_previous_kernel), so this warp's first kStages - 1 key tiles are requested before
  // waiting for that kernel when they lie in that range: a call's first loads overlap the
  // previous call's tail. Q, the new keys and every write come after the wait. The tiles go in
  // order, one cp.async group each, which the waits of the main loop count on. ----
  llmi::pdl_launch_dependents();
  const int cached_keys = sk - sq;
  int issued = 0;
  for (; issued < Tr::kStages - 1 && issued < my_tiles && tile_n0(issued) + kBN <= cached_keys;
       ++issued) {
    load_tile(issued);
    mma::cp_async_commit();
  }
  llmi::pdl_wait();
  for (; issued < Tr::kStages - 1; ++issued) {
    if (issued < my_tiles) load_tile(issued);
    mma::cp_async_commit();  // empty groups too: the wait counts below assume one per stage
  }
  // Q (Alg. 1 line 4; rows past the tile's end read as 0), by plain loads: its latency is paid
  // once, and it must not take a cp.async group ahead of the key tiles.
  for (int i = threadIdx.x; i < kRows * Tr::kChunks; i += Tr::kThreads) {
    const int r = i / Tr::kChunks, col = (i % Tr::kChunks) * 8;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (m0 + r < rows)
      v = *reinterpret_cast<const uint4*>(
          q + (size_t(q0 + token_of(r)) * p.heads_q + head_of(r)) * kD + col);
    *reinterpret_cast<uint4*>(sQ + mma::swizzle<kD>(r, col)) = v;
  }
  __syncthreads();

  float acc_o[Tr::kDTiles][4] = {};
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0, 0};  // rows g and g + 8
  // ldmatrix addresses of this lane (mma_utils.cuh): Q, and this warp's stage-0 K and V.
  const mma::LdsmLane<kD> lane_q = mma::lane_a<kD>(sQ, lane);
  const mma::LdsmLane<kD> lane_k = mma::lane_b<kD>(sK, lane), lane_v = mma::lane_b_trans<kD>(sV, lane);

  for (int i = 0; i < my_tiles; ++i) {
    mma::cp_async_wait<Tr::kStages - 2>();  // tile i has landed (this lane's copies) ...
    __syncwarp();                           // ... every lane's; all lanes are done with tile i-1
    if (i + Tr::kStages - 1 < my_tiles) load_tile(i + Tr::kStages - 1);  // into tile i-1's stage
    mma::cp_async_commit();
    const uint32_t stage_bytes = (i % Tr::kStages) * Tr::kStageElems * sizeof(T);
    const mma::LdsmLane<kD> cK = lane_k.shifted(stage_bytes), cV = lane_v.shifted(stage_bytes);
    const int n0 = tile_n0(i);

    // ---- S = Q K^T (Alg. 1 line 8) ----
    float acc_s[Tr::kNTiles][4] = {};
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
      uint32_t a[4];
      mma::ldsm_x4(a, lane_q.addr(kk, 0));
#pragma unroll
      for (int np = 0; np < Tr::kNTiles / 2; ++np) {
        uint32_t b0[2], b1[2];
        mma::ldsm_b(b0, b1, cK.addr(kk, np * 16));
        mma::mma_16816<T>(acc_s[2 * np], a, b0);
        mma::mma_16816<T>(acc_s[2 * np + 1], a, b1);
      }
    }

    // ---- mask: only the tile at the sequence end or straddling the causal diagonal ----
    const bool need_mask = n0 + kBN > sk || (p.causal && n0 + kBN - 1 > token_of(0) + diag);
#pragma unroll
    for (int nt = 0; nt < Tr::kNTiles; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float& s = acc_s[nt][e];
        s *= p.scale_log2;
        if (need_mask) {
          const int col = n0 + nt * 8 + 2 * c + (e & 1);
          const int tok = token_of(g + (e >> 1) * 8);
          if (col >= sk || (p.causal && col > tok + diag)) s = -INFINITY;
        }
      }

    // ---- online softmax (Alg. 1 lines 9-10); a row lives in the 4 lanes of a quad ----
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float mx = row_max[h];
#pragma unroll
      for (int nt = 0; nt < Tr::kNTiles; ++nt)
        mx = fmaxf(mx, fmaxf(acc_s[nt][2 * h], acc_s[nt][2 * h + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      // A row that has seen only masked keys keeps m = -inf; use 0 so exp2 gives 0, not NaN.
      const float m_use = mx == -INFINITY ? 0.f : mx;
      const float correction = mma::exp2_approx(row_max[h] - m_use);
      row_max[h] = mx;
      float sum = 0;
#pragma unroll
      for (int nt = 0; nt < Tr::kNTiles; ++nt)
#pragma unroll
        for (int e = 2 * h; e < 2 * h + 2; ++e)
          sum += (acc_s[nt][e] = mma::exp2_approx(acc_s[nt][e] - m_use));
      row_sum[h] = row_sum[h] * correction + sum;  // per-lane partial, reduced at the end
#pragma unroll
      for (int dt = 0; dt < Tr::kDTiles; ++dt)
        acc_o[dt][2 * h] *= correction, acc_o[dt][2 * h + 1] *= correction;
    }

    // ---- O += P V (Alg. 1 line 10): S accumulators of key columns 16kk..16kk+15 are the A
    // fragment of that k-step ----
#pragma unroll
    for (int kk = 0; kk < kBN / 16; ++kk) {
      const uint32_t a[4] = {E::pack(acc_s[2 * kk][0], acc_s[2 * kk][1]),
                             E::pack(acc_s[2 * kk][2], acc_s[2 * kk][3]),
                             E::pack(acc_s[2 * kk + 1][0], acc_s[2 * kk + 1][1]),
                             E::pack(acc_s[2 * kk + 1][2], acc_s[2 * kk + 1][3])};
#pragma unroll
      for (int dp = 0; dp < Tr::kDTiles / 2; ++dp) {
        uint32_t b0[2], b1[2];
        mma::ldsm_b_trans(b0, b1, cV.addr(dp, kk * 16));
        mma::mma_16816<T>(acc_o[2 * dp], a, b0);
        mma::mma_16816<T>(acc_o[2 * dp + 1], a, b1);
      }
    }
  }

  // ---- merge the warps (FA1 Alg. 1 line 12's rescaling): O = sum_w 2^(m_w - m) O_w / l with
  // l = sum_w 2^(m_w - m) l_w, through the drained pipeline's shared memory ----
  mma::cp_async_wait_all();  // only empty groups can be left; drain them before reusing smem
  __syncthreads();
  float* sO = reinterpret_cast<float*>(pipe);  // [kW][kRows][kOStride]
  float* sM = sO + kW * kRows * Tr::kOStride;  // [kW][kRows]
  float* sL = sM + kW * kRows;                 // [kW][kRows]
  float* sW = sL + kW * kRows;                 // [kW][kRows]: 2^(m_w - m) / l
  float* sLse = sW + kW * kRows;               // [kRows]
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    float l = row_sum[h];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const int r = g + 8 * h;
    if (c == 0) sM[warp * kRows + r] = row_max[h], sL[warp * kRows + r] = l;
    float* o = sO + (warp * kRows + r) * Tr::kOStride;
#pragma unroll
    for (int dt = 0; dt < Tr::kDTiles; ++dt)
      *reinterpret_cast<float2*>(o + dt * 8 + 2 * c) =
          make_float2(acc_o[dt][2 * h], acc_o[dt][2 * h + 1]);
  }
  __syncthreads();
  constexpr float kLn2 = 0.6931471805599453f;
  if (threadIdx.x < kRows) {
    const int r = threadIdx.x;
    float m = -INFINITY, l = 0;
    for (int w = 0; w < kW; ++w) m = fmaxf(m, sM[w * kRows + r]);
    for (int w = 0; w < kW; ++w) {
      // A warp that saw no visible key (m_w = -inf, l_w = 0) gets weight 0.
      const float m_w = sM[w * kRows + r];
      const float f = m_w == -INFINITY ? 0.f : mma::exp2_approx(m_w - m);
      sW[w * kRows + r] = f;
      l += f * sL[w * kRows + r];
    }
    const float inv = l > 0 ? 1.f / l : 0.f;  // no visible key at all: O = 0, L = -inf
    for (int w = 0; w < kW; ++w) sW[w * kRows + r] *= inv;
    sLse[r] = l > 0 ? (m + __log2f(l)) * kLn2 : -INFINITY;  // Alg. 1 line 13, natural log
  }
  __syncthreads();

  // Each thread writes 4 consecutive dims of one row: the final output when the keys were not
  // split, else this split's normalised partial (fp32) and its lse.
  const size_t part_o = size_t(p.total_q) * p.heads_q * kD, part_l = size_t(p.heads_q) * p.total_q;
  for (int i = threadIdx.x; i < kRows * kD / 4; i += Tr::kThreads) {
    const int r = i / (kD / 4), d = (i % (kD / 4)) * 4;
    if (m0 + r >= rows) continue;
    float4 o = make_float4(0, 0, 0, 0);
    for (int w = 0; w < kW; ++w) {
      const float f = sW[w * kRows + r];
      const float4 x = *reinterpret_cast<const float4*>(sO + (w * kRows + r) * Tr::kOStride + d);
      o.x += f * x.x, o.y += f * x.y, o.z += f * x.z, o.w += f * x.w;
    }
    const int tok = q0 + token_of(r), head = head_of(r);
    const size_t o_off = (size_t(tok) * p.heads_q + head) * kD + d;
    const size_t l_off = size_t(head) * p.total_q + tok;
    if (p.num_splits == 1) {
      mma::store4(static_cast<T*>(p.out) + o_off, o);
      if (d == 0 && p.lse) p.lse[l_off] = sLse[r];
    } else {
      *reinterpret_cast<float4*>(p.out_partial + split * part_o + o_off) = o;
      if (d == 0) p.lse_partial[split * part_l + l_off] = sLse[r];
    }
  }
  if (p.num_splits == 1) return;

  // ---- merge the splits, in whichever block of this tile finishes last: L = log sum_s e^(L_s),
  // O = sum_s e^(L_s - L) O_s. Partials are read with ld.global.cg (from L2, not this SM's L1).
  // One acquire-release atomic by thread 0 after a barrier publishes the block's partials and,
  // in the last block, makes every other block's visible to all of its threads: the barrier
  // orders the other threads' stores before the release and the acquire before their loads
  // (the PTX memory model's causality order is cumulative through bar.sync; CUTLASS's
  // semaphores use the same pattern). The two __threadfence()s (membar.gl, i.e. fence.sc.gpu)
  // that did this before cost 0.35-0.5 us more per call (H200, 2026-12-03: +2.7-3.6% at 4k-8k
  // with overlapped calls; results/h200-2026-12-03-decode-arrival).
  __shared__ bool s_last;
  __syncthreads();
  if (threadIdx.x == 0) {
    int* counter = p.tile_counters + (size_t(b) * p.heads_kv + kv_head) * p.num_m_blocks + m_block;
    s_last = atomic_add_acq_rel_gpu(counter, 1) == p.num_splits - 1;
    if (s_last) *counter = 0;  // every block of the tile has arrived: ready for the next call
  }
  __syncthreads();
  if (!s_last) return;
  // Each thread owns 4 dims of one row and reads every split's lse and O for them, 16 splits
  // per batch of independent loads (one L2 round trip at the usual split counts), rescaling
  // its running (m, l, O) between batches as the online softmax does between key blocks.
  constexpr int kBatch = 16;
  for (int i = threadIdx.x; i < kRows * kD / 4; i += Tr::kThreads) {
    const int r = i / (kD / 4), d = (i % (kD / 4)) * 4;
    if (m0 + r >= rows) continue;
    const int tok = q0 + token_of(r), head = head_of(r);
    const size_t o_off = (size_t(tok) * p.heads_q + head) * kD + d;
    const size_t l_off = size_t(head) * p.total_q + tok;
    float m = -INFINITY, l = 0;
    float4 o = make_float4(0, 0, 0, 0);
    for (int s0 = 0; s0 < p.num_splits; s0 += kBatch) {
      float ls[kBatch];
      float4 x[kBatch];
#pragma unroll
      for (int j = 0; j < kBatch; ++j) {
        const bool in = s0 + j < p.num_splits;
        ls[j] = in ? __ldcg(p.lse_partial + (s0 + j) * part_l + l_off) : -INFINITY;
        x[j] = in ? __ldcg(reinterpret_cast<const float4*>(p.out_partial +
                                                           (s0 + j) * part_o + o_off))
                  : make_float4(0, 0, 0, 0);
      }
      float m_new = m;
#pragma unroll
      for (int j = 0; j < kBatch; ++j) m_new = fmaxf(m_new, ls[j]);
      if (m_new == -INFINITY) continue;  // no split so far saw a visible key
      const float a = __expf(m - m_new);  // 0 while m = -inf
      l *= a, o.x *= a, o.y *= a, o.z *= a, o.w *= a;
#pragma unroll
      for (int j = 0; j < kBatch; ++j) {
        const float f = __expf(ls[j] - m_new);  // a split with no visible key: L_s = -inf, O_s = 0
        l += f;
        o.x += f * x[j].x, o.y += f * x[j].y, o.z += f * x[j].z, o.w += f * x[j].w;
      }
      m = m_new;
    }
    const float inv = l > 0 ? 1.f / l : 0.f;
    mma::store4(static_cast<T*>(p.out) + o_off,
                make_float4(o.x * inv, o.y * inv, o.z * inv, o.w * inv));
    if (d == 0 && p.lse) p.lse[l_off] = l > 0 ? m + logf(l) : -INFINITY;
  }
}

template <typename Tr>
const void* configured_kernel() {
  opt_in_dynamic_smem<flash_decode_kernel<Tr>>(Tr::kSmemBytes);
  return reinterpret_cast<const void*>(flash_decode_kernel<Tr>);
}

template <typename Tr>
DecodeShape shape_of() {
  configured_kernel<Tr>();  // opted in to its shared memory before the occupancy query
  return DecodeShape{Tr::kBlockN, Tr::kWarps,
                     resident_slots<flash_decode_kernel<Tr>>(Tr::kThreads, Tr::kSmemBytes)};
}

template <typename Tr>
void launch(const DecodeParams& p, int batch, bool pdl, cudaStream_t stream) {
  configured_kernel<Tr>();
  const dim3 grid(p.num_m_blocks * p.num_splits, p.heads_kv, batch);
  llmi::launch_pdl(flash_decode_kernel<Tr>, grid, Tr::kThreads, Tr::kSmemBytes, stream, pdl, p);
}

// Calls f(traits) for the instantiation of (head_dim, dtype). A block is one SM's worth (196 KB
// of pipeline: one block per SM) of 8 warps x 3 stages x 8 KB of K + V, so 16 tiles (128 KB)
// are in flight per SM -- four times what Little's law asks at ~1 us latency and 4.3 TB/s over
// 132 SMs. Measured on an H200 (PERFORMANCE_LOG.md), 8 warps with 16-key tiles beat 4 warps with
// 32-key tiles, 2 stages, and two 2-warp blocks per SM. At d = 256 a tile cannot drop below 16 keys
// (the k of m16n8k16 in P V), so it keeps 16 KB stages with 4 warps.
template <typename F>
void dispatch(int head_dim, llmi::DType dtype, F&& f) {
  auto typed = [&](auto t) {
    using T = decltype(t);
    switch (head_dim) {
      case 64: return f(DecodeTraits<T, 64, 8, 3, 32>{});
      case 128: return f(DecodeTraits<T, 128, 8, 3, 16>{});
      case 256: return f(DecodeTraits<T, 256, 4, 3, 16>{});
    }
    LLMI_REQUIRE(false, "head dim " << head_dim << " is not supported (64, 128, 256)");
  };
  with_element_type(dtype, typed);
}

}  // namespace

DecodeShape flash_decode_shape(int head_dim, llmi::DType dtype) {
  DecodeShape s{};
  dispatch(head_dim, dtype, [&](auto tr) { s = shape_of<decltype(tr)>(); });
  return s;
}

void run_flash_decode(const DecodeParams& p, int head_dim, llmi::DType dtype, int batch, bool pdl,
                      cudaStream_t stream) {
  dispatch(head_dim, dtype, [&](auto tr) { launch<decltype(tr)>(p, batch, pdl, stream); });
}

}  // namespace flash
