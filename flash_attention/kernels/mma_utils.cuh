// Tensor-core building blocks for the FA2 kernels: cp.async tile loads into swizzled shared
// memory, ldmatrix fragment loads, mma.sync m16n8k16 (bf16/fp16 in, fp32 accumulate).
//
// Fragment layouts (PTX ISA, "Matrix Fragments for mma.m16n8k16"), g = lane / 4, c = lane % 4:
//   A 16x16 (row-major): a[0] = (g, 2c..2c+1), a[1] = (g+8, 2c..), a[2] = (g, 8+2c..),
//                        a[3] = (g+8, 8+2c..)
//   B 16x8  (k x n):     b[0] = (k = 2c..2c+1, n = g), b[1] = (k = 8+2c.., n = g)
//   C 16x8  (fp32):      c[0..1] = (g, 2c..2c+1), c[2..3] = (g+8, 2c..2c+1)
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "swizzle.h"

namespace flash::mma {

// 16-bit element types: the PTX type name of mma.sync and a packed float2 -> 2 x 16-bit cast.
template <typename T> struct Elem;
template <> struct Elem<__nv_bfloat16> {
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&h);
  }
  static __device__ __forceinline__ float2 unpack(uint32_t v) {
    return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&v));
  }
  static __device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
  static __device__ __forceinline__ __nv_bfloat16 from_float(float x) { return __float2bfloat16(x); }
};
template <> struct Elem<__half> {
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&h);
  }
  static __device__ __forceinline__ float2 unpack(uint32_t v) {
    return __half22float2(*reinterpret_cast<const __half2*>(&v));
  }
  static __device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
  static __device__ __forceinline__ __half from_float(float x) { return __float2half(x); }
};

// Four consecutive 16-bit elements (8-byte aligned) as floats, and back.
template <typename T>
__device__ __forceinline__ float4 load4(const T* p) {
  const uint2 v = *reinterpret_cast<const uint2*>(p);
  const float2 lo = Elem<T>::unpack(v.x), hi = Elem<T>::unpack(v.y);
  return make_float4(lo.x, lo.y, hi.x, hi.y);
}
template <typename T>
__device__ __forceinline__ void store4(T* p, float4 f) {
  *reinterpret_cast<uint2*>(p) = make_uint2(Elem<T>::pack(f.x, f.y), Elem<T>::pack(f.z, f.w));
}

// d += a * b for one 16x8x16 tile.
template <typename T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4],
                                          const uint32_t (&b)[2]) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
}

// 16-byte asynchronous global -> shared copies; the _zfill form writes zeros instead when
// !valid (gmem must still be a valid address; it is not read).
__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem) {
  const uint32_t addr = uint32_t(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(addr), "l"(gmem));
}
__device__ __forceinline__ void cp_async_16_zfill(void* smem, const void* gmem, bool valid) {
  const uint32_t addr = uint32_t(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(addr), "l"(gmem),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_4_zfill(void* smem, const void* gmem, bool valid) {
  const uint32_t addr = uint32_t(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(addr), "l"(gmem),
               "r"(valid ? 4 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n"); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n"); }
// Waits until at most kPending of this thread's most recent commit groups are still in flight
// (a multistage pipeline keeps the newest stages loading while it computes on the oldest).
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

// acc[mt][n] += a[mt] b0 and acc[mt][n + 1] += a[mt] b1 for every m-tile mt: one pair of B
// fragments (an ldmatrix.x4) feeds 2 * kM MMAs.
template <typename T, int kM, int kN>
__device__ __forceinline__ void mma_m_tiles(float (&acc)[kM][kN][4], const uint32_t (&a)[kM][4],
                                            int n, const uint32_t (&b0)[2], const uint32_t (&b1)[2]) {
#pragma unroll
  for (int mt = 0; mt < kM; ++mt) {
    mma_16816<T>(acc[mt][n], a[mt], b0);
    mma_16816<T>(acc[mt][n + 1], a[mt], b1);
  }
}

// ---- Fragments of swizzled [rows][kCols] shared-memory tiles by ldmatrix.
// ldmatrix.x4 loads four 8x8 16-bit matrices; lanes 8i..8i+7 give the row addresses of matrix i,
// and register i of lane t receives row t/4, columns 2(t%4)..+1 of matrix i (transposed with
// .trans). For a 16x16 fragment each lane addresses one row r and one 8-column half `sel` of
// it; per 16-column step j that is chunk 2j + sel (plus col0 / 8). Swizzled, chunk 2j + sel sits
// at ((2j % 8) ^ x) + 8 * (2j / 8) with x = (sel ^ r) % 8, because sel only touches bit 0 and 2j
// never does. So four per-lane addresses (j % 4) cover every step and the rest is a
// compile-time immediate: an ldmatrix in an unrolled loop needs no address arithmetic. The
// arithmetic lives in swizzle.h, where tests/test_swizzle.cpp checks it on the CPU.
// (Computing the swizzle per ldmatrix cost 3-5 integer instructions each, about 300 per key
// block in the FA2 forward: ncu and SASS, H200, 2026-12-02.)
//
// kCompact keeps only step 0's address and derives step j by one XOR (swizzle.h,
// ldsm_compact_step): three registers fewer per operand for one integer instruction per
// ldmatrix, which pays where registers spill (the backward at d = 128: 251 -> 257 TFLOP/s at 8k;
// at d = 64 on its 128 x 128 tile: 207 -> 216; H200, 2026-12-02) and not elsewhere (the d = 64
// backward on a 64 x 128 tile, which did not spill, lost 2%). Exact for tiles at
// 128-byte-aligned addresses and the steps ldsm_compact_exact allows: every step from a col0
// that is a multiple of 64, steps j % 4 < 2 from an odd multiple of 32.
template <int kCols, bool kCompact = false>
struct LdsmLane {
  static constexpr int kRegs = kCompact ? 1 : 4;
  uint32_t at_step[kRegs];  // shared-space byte address of step j % 4 (or 0) of the lane's row
  // Row r and half sel of the lane (swizzle.h's lane_row_*, plus a multiple of 8 rows); step 0
  // starts at column col0.
  __device__ __forceinline__ LdsmLane(const void* tile, int r, int sel, int col0 = 0) {
    const uint32_t base = uint32_t(__cvta_generic_to_shared(tile));
#pragma unroll
    for (int j = 0; j < kRegs; ++j) at_step[j] = base + ldsm_step_offset<kCols>(r, sel, col0, j);
  }
  // The same lane in a tile `bytes` further on (another pipeline stage).
  __device__ __forceinline__ LdsmLane shifted(uint32_t bytes) const {
    LdsmLane s = *this;
#pragma unroll
    for (int j = 0; j < kRegs; ++j) s.at_step[j] += bytes;
    return s;
  }
  // Step j of row r + dr (dr a multiple of 8; j and dr are constants once loops are unrolled).
  __device__ __forceinline__ uint32_t addr(int j, int dr) const {
    const uint32_t step = kCompact ? ldsm_compact_step(at_step[0], j) : at_step[j % kRegs];
    return step + uint32_t(ldsm_step_tail<kCols>(j, dr));
  }
};

// The lane's row and half for each operand form. Fragments then come from
//   A 16x16 at (m0, k0) of A = X[m][k]            lane_a(X, lane, row0, col0), ldsm_x4(addr((k0 - col0) / 16, m0))
//   B n8 tiles n0, n0+8 over k0 of B = X[n][k]^T  lane_b(X, lane),        ldsm_x4(addr(k0 / 16, n0))
//   B n8 tiles n0, n0+8 over k0 of B = X[k][n]    lane_b_trans(X, lane, col0), ldsm_x4_trans(addr((n0 - col0) / 16, k0))
//   A 16x16 at (m0, k0) of A = X[k][m]^T          lane_a_trans(X, lane, col0), ldsm_x4_trans(addr((m0 - col0) / 16, k0))
// row0 (a multiple of 8) offsets every row, e.g. to a warp's own rows.
template <int kCols, bool kCompact = false>
__device__ __forceinline__ LdsmLane<kCols, kCompact> lane_a(const void* X, int lane, int row0 = 0,
                                                            int col0 = 0) {
  const LaneRow lr = lane_row_a(lane, row0);
  return LdsmLane<kCols, kCompact>(X, lr.row, lr.sel, col0);
}
template <int kCols, bool kCompact = false>
__device__ __forceinline__ LdsmLane<kCols, kCompact> lane_b(const void* X, int lane) {
  const LaneRow lr = lane_row_b(lane);
  return LdsmLane<kCols, kCompact>(X, lr.row, lr.sel);
}
// col0: first column of step 0 (see LdsmLane), e.g. a warp's own columns.
template <int kCols, bool kCompact = false>
__device__ __forceinline__ LdsmLane<kCols, kCompact> lane_b_trans(const void* X, int lane,
                                                                  int col0 = 0) {
  const LaneRow lr = lane_row_b_trans(lane);
  return LdsmLane<kCols, kCompact>(X, lr.row, lr.sel, col0);
}
template <int kCols, bool kCompact = false>
__device__ __forceinline__ LdsmLane<kCols, kCompact> lane_a_trans(const void* X, int lane, int col0) {
  const LaneRow lr = lane_row_a_trans(lane);
  return LdsmLane<kCols, kCompact>(X, lr.row, lr.sel, col0);
}

__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
// Two B fragments (n8 tiles n0 and n0 + 8) from one ldmatrix.x4.
__device__ __forceinline__ void ldsm_b(uint32_t (&b0)[2], uint32_t (&b1)[2], uint32_t addr) {
  uint32_t r[4];
  ldsm_x4(r, addr);
  b0[0] = r[0], b0[1] = r[1], b1[0] = r[2], b1[1] = r[3];
}
__device__ __forceinline__ void ldsm_b_trans(uint32_t (&b0)[2], uint32_t (&b1)[2], uint32_t addr) {
  uint32_t r[4];
  ldsm_x4_trans(r, addr);
  b0[0] = r[0], b0[1] = r[1], b1[0] = r[2], b1[1] = r[3];
}

// The inverse of ldsm_x4: stores a 16 x 16 block held as an A fragment (or as the accumulators
// of two adjacent n8 tiles, packed: {(g, 2c), (g+8, 2c), (g, 8+2c), (g+8, 8+2c)}) at the rows
// a lane_a lane addresses. On sm_90 one stmatrix replaces four 4-byte stores per lane and their
// per-lane swizzled addresses; before it, each lane fetches the row address of matrix i from
// lane 8i + g and stores its own 4 bytes there (the swizzle moves whole 16-byte chunks, so the
// lane's 4c-byte offset inside the row's chunk is unchanged).
__device__ __forceinline__ void stsm_x4(uint32_t addr, const uint32_t (&r)[4]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1,%2,%3,%4};\n"
               :
               : "r"(addr), "r"(r[0]), "r"(r[1]), "r"(r[2]), "r"(r[3])
               : "memory");
#else
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const uint32_t row = __shfl_sync(0xffffffffu, addr, 8 * i + lane / 4);
    asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(row + 4 * (lane % 4)), "r"(r[i]) : "memory");
  }
#endif
}

// Thread `tid`'s share of a [kRows][kD] tile of 16-bit elements moved by kThreads threads in
// 16-byte chunks: chunk `col` / 8 of rows row0, row0 + kRowStep, ... (kPasses rows).
template <int kRows, int kD, int kThreads>
struct RowPasses {
  static constexpr int kChunks = kD / 8;
  static_assert(kThreads % kChunks == 0, "a pass of the threads must cover whole rows");
  static constexpr int kRowStep = kThreads / kChunks;
  static_assert(kRows % kRowStep == 0, "the tile must be a whole number of passes");
  static constexpr int kPasses = kRows / kRowStep;
  int col, row0;
  __device__ __forceinline__ explicit RowPasses(int tid)
      : col((tid % kChunks) * 8), row0(tid / kChunks) {}
};

// Copies a [kRows][kD] tile into swizzled shared memory with kThreads threads (this one is
// `tid`): row r comes from src + r * row_stride; rows >= valid_rows are zero-filled (rows past
// the end of a sequence then add nothing to P V). Thread t always copies 16-byte chunk
// t % (kD / 8) of every (kThreads / (kD / 8))-th row, so a copy costs an address add; a whole
// tile (the common case) takes a path without predicates. (The first version computed a row
// pointer with a division per 16-byte chunk: a third of the FA2 forward's instructions.)
template <int kRows, int kD, int kThreads, typename T>
__device__ __forceinline__ void load_rows_async(T* smem, const T* src, size_t row_stride,
                                                int valid_rows, int tid) {
  using Passes = RowPasses<kRows, kD, kThreads>;
  const Passes my(tid);
  const int c = my.col, r0 = my.row0;
  const T* from = src + r0 * row_stride + c;
  const size_t step = Passes::kRowStep * row_stride;
  if (valid_rows >= kRows) {
#pragma unroll
    for (int i = 0; i < Passes::kPasses; ++i)
      cp_async_16(smem + swizzle<kD>(r0 + i * Passes::kRowStep, c), from + i * step);
  } else {
#pragma unroll
    for (int i = 0; i < Passes::kPasses; ++i) {
      const bool valid = r0 + i * Passes::kRowStep < valid_rows;
      cp_async_16_zfill(smem + swizzle<kD>(r0 + i * Passes::kRowStep, c),
                        valid ? from + i * step : src, valid);
    }
  }
}

// The reverse of load_rows_async: the first valid_rows rows of a swizzled [kRows][kD] tile to
// dst + r * row_stride, 16 bytes per thread, so a warp stores whole rows (coalesced).
template <int kRows, int kD, int kThreads, typename T>
__device__ __forceinline__ void store_rows(T* dst, const T* smem, size_t row_stride,
                                           int valid_rows, int tid) {
  using Passes = RowPasses<kRows, kD, kThreads>;
  const Passes my(tid);
#pragma unroll
  for (int i = 0; i < Passes::kPasses; ++i) {
    const int r = my.row0 + i * Passes::kRowStep;
    if (r < valid_rows)
      *reinterpret_cast<uint4*>(dst + r * row_stride + my.col) =
          *reinterpret_cast<const uint4*>(smem + swizzle<kD>(r, my.col));
  }
}

// *p += (a, b) for two consecutive floats (8-byte aligned): one vector atomic on sm_90, whose
// L2 reduction units take float2 (half the atomic requests of two scalar adds).
__device__ __forceinline__ void atomic_add2(float* p, float a, float b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  atomicAdd(reinterpret_cast<float2*>(p), make_float2(a, b));
#else
  atomicAdd(p, a);
  atomicAdd(p + 1, b);
#endif
}

// op over v[0..kN) as a pairwise tree (kN a power of two): log2(kN) dependent steps instead of
// kN - 1, for reductions whose latency the warp would otherwise stall on.
template <int kN, typename Op>
__device__ __forceinline__ float tree_reduce(const float* v, Op op) {
  static_assert(kN >= 1 && (kN & (kN - 1)) == 0, "a power of two");
  if constexpr (kN == 1) return v[0];
  else return op(tree_reduce<kN / 2>(v, op), tree_reduce<kN / 2>(v + kN / 2, op));
}

// 2^x with the hardware's approximate exponential (MUFU.EX2), as FA2's softmax uses.
__device__ __forceinline__ float exp2_approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

}  // namespace flash::mma
