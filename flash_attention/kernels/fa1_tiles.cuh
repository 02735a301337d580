// Plain shared-memory tiles for the FlashAttention-1 kernels (and the fp32 backward): fp32
// tiles of kBr x D / kBc x D, one row per query or key, padded by one float so that a warp
// walking down a column hits 32 different banks. All math here is fp32 FMA on CUDA cores,
// chosen for readability: every loop is one line of the paper's algorithm.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace flash::fa1 {

// Tile sizes. FA1 derives them from the SRAM size M (Alg. 1 line 1: Bc = ceil(M / 4d),
// Br = min(Bc, d)); we fix Br = Bc = 32 so the backward's eight fp32 tiles fit 227 KB at d = 256.
constexpr int kBr = 32;
constexpr int kBc = 32;
constexpr int kThreads = 256;

__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_float(float x) { return x; }
template <typename T> __device__ T from_float(float x);
template <> __device__ __forceinline__ __nv_bfloat16 from_float(float x) { return __float2bfloat16(x); }
template <> __device__ __forceinline__ __half from_float(float x) { return __float2half(x); }

// A [rows][d] fp32 tile with row stride d + 1.
struct Tile {
  float* data;
  int d;
  __device__ float& operator()(int r, int c) const { return data[r * (d + 1) + c]; }
  static constexpr int floats(int rows, int d) { return rows * (d + 1); }
};

// Loads `rows` rows of a [tokens, heads, d] tensor starting at token t0 (rows at or past
// t_end become zeros) into a tile.
template <typename T>
__device__ void load_rows(const Tile& tile, const T* src, int t0, int t_end, int heads, int head,
                          int rows) {
  for (int i = threadIdx.x; i < rows * tile.d; i += blockDim.x) {
    const int r = i / tile.d, c = i % tile.d;
    tile(r, c) = t0 + r < t_end ? to_float(src[(size_t(t0 + r) * heads + head) * tile.d + c]) : 0.f;
  }
}

// out[r][c] = sum_k a(r, k) * b(c, k) over k < d, for r < kBr, c < kBc (S = Q K^T, dP = dO V^T).
__device__ inline void matmul_abt(float* out /*[kBr][kBc]*/, const Tile& a, const Tile& b) {
  for (int i = threadIdx.x; i < kBr * kBc; i += blockDim.x) {
    const int r = i / kBc, c = i % kBc;
    float acc = 0;
    for (int k = 0; k < a.d; ++k) acc += a(r, k) * b(c, k);
    out[i] = acc;
  }
}

}  // namespace flash::fa1
