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

namespace flash::mma {

// 16-bit element types: the PTX type name of mma.sync and a packed float2 -> 2 x 16-bit cast.
template <typename T> struct Elem;
template <> struct Elem<__nv_bfloat16> {
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&h);
  }
  static __device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
  static __device__ __forceinline__ __nv_bfloat16 from_float(float x) { return __float2bfloat16(x); }
};
template <> struct Elem<__half> {
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&h);
  }
  static __device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
  static __device__ __forceinline__ __half from_float(float x) { return __float2half(x); }
};

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

// Four 8x8 16-bit matrices; lanes 8i..8i+7 give the row addresses of matrix i, and register i
// of lane t receives row t/4, columns 2(t%4)..+1 of matrix i (transposed with .trans).
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem_row) {
  const uint32_t addr = uint32_t(__cvta_generic_to_shared(smem_row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* smem_row) {
  const uint32_t addr = uint32_t(__cvta_generic_to_shared(smem_row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// 16-byte asynchronous global -> shared copy; when !valid the 16 bytes are zero-filled (rows
// past the end of a sequence read as zeros, so they add nothing to P V).
__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem, bool valid) {
  const uint32_t addr = uint32_t(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(addr), "l"(gmem),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n"); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n"); }
// Waits until at most kPending of this thread's most recent commit groups are still in flight
// (a multistage pipeline keeps the newest stages loading while it computes on the oldest).
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

// A [rows][kCols] tile of 16-bit elements in shared memory, swizzled so that ldmatrix's 8 row
// reads of 16 bytes hit 8 different bank groups: 16-byte chunk c of row r lives at chunk
// c ^ (r % 8). Rows are >= 128 bytes, so without the XOR all 8 rows would hit the same banks.
template <int kCols>
__device__ __forceinline__ int swizzle(int row, int col) {
  static_assert(kCols % 64 == 0, "the swizzle needs at least 8 chunks of 16 bytes per row");
  return row * kCols + ((((col >> 3) ^ row) & 7) | ((col >> 3) & ~7)) * 8 + (col & 7);
}

// ---- Fragments of 16x16 blocks of swizzled [rows][kCols] shared-memory tiles. lane = lane id.
// A operand, block (m0, k0) of A stored row-major as X[m][k].
template <int kCols, typename T>
__device__ __forceinline__ void load_a(uint32_t (&a)[4], const T* X, int m0, int k0, int lane) {
  ldmatrix_x4(a, X + swizzle<kCols>(m0 + (lane & 15), k0 + (lane >> 4) * 8));
}
// A operand, block (m0, k0) of A = X^T, X stored row-major as X[k][m] (e.g. P^T from P).
template <int kCols, typename T>
__device__ __forceinline__ void load_a_trans(uint32_t (&a)[4], const T* X, int m0, int k0,
                                             int lane) {
  ldmatrix_x4_trans(a, X + swizzle<kCols>(k0 + (lane & 7) + ((lane >> 4) << 3),
                                          m0 + ((lane >> 3) & 1) * 8));
}
// B operand for n8 tiles n0 and n0 + 8 (b0, b1) over k0..k0+15, B = X^T with X stored
// row-major as X[n][k] (e.g. K for S = Q K^T).
template <int kCols, typename T>
__device__ __forceinline__ void load_b(uint32_t (&b0)[2], uint32_t (&b1)[2], const T* X, int n0,
                                       int k0, int lane) {
  uint32_t r[4];
  ldmatrix_x4(r, X + swizzle<kCols>(n0 + (lane & 7) + ((lane >> 4) << 3),
                                    k0 + ((lane >> 3) & 1) * 8));
  b0[0] = r[0], b0[1] = r[1], b1[0] = r[2], b1[1] = r[3];
}
// B operand for n8 tiles n0 and n0 + 8 over k0..k0+15, B stored row-major as X[k][n]
// (e.g. V for O = P V).
template <int kCols, typename T>
__device__ __forceinline__ void load_b_trans(uint32_t (&b0)[2], uint32_t (&b1)[2], const T* X,
                                             int n0, int k0, int lane) {
  uint32_t r[4];
  ldmatrix_x4_trans(r, X + swizzle<kCols>(k0 + (lane & 7) + ((lane >> 3) & 1) * 8,
                                          n0 + (lane >> 4) * 8));
  b0[0] = r[0], b0[1] = r[1], b1[0] = r[2], b1[1] = r[3];
}

// Copies rows [0, kRows) of a tile whose row r starts at row_ptr(r) (or is absent when
// row_ptr returns null: zero-filled; `any` is then passed as a harmless source address) into
// swizzled shared memory, with kThreads threads.
template <int kRows, int kD, int kThreads, typename T, typename RowPtr>
__device__ __forceinline__ void load_tile_async(T* smem, const T* any, RowPtr row_ptr) {
  constexpr int kChunksPerRow = kD / 8;
  for (int i = threadIdx.x; i < kRows * kChunksPerRow; i += kThreads) {
    const int r = i / kChunksPerRow, c = (i % kChunksPerRow) * 8;
    const T* src = row_ptr(r);
    cp_async_16(smem + swizzle<kD>(r, c), src ? src + c : any, src != nullptr);
  }
}

// 2^x with the hardware's approximate exponential (MUFU.EX2), as FA2's softmax uses.
__device__ __forceinline__ float exp2_approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

}  // namespace flash::mma
