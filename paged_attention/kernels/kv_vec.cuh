// Vector loads of 8 consecutive K/V (or q) elements converted to fp32, and fp32 -> element
// stores, for the cache types the kernels support. One lane handles 8 dims of a token: a
// 16-byte load for bf16/fp16, an 8-byte load for fp8 (dequantised on the fly, vLLM §4.1's
// "fetch, convert, compute").
#pragma once
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cstdint>

#include "llmi/dtype.h"

namespace paged::detail {

struct Bf16 { using Raw = uint4; static constexpr llmi::DType kType = llmi::DType::BF16; };
struct F16 { using Raw = uint4; static constexpr llmi::DType kType = llmi::DType::F16; };
struct Fp8 { using Raw = uint2; static constexpr llmi::DType kType = llmi::DType::FP8E4M3; };

// Element type tag -> storage unit of one element.
template <typename T> struct Elem;
template <> struct Elem<Bf16> { using type = uint16_t; };
template <> struct Elem<F16> { using type = uint16_t; };
template <> struct Elem<Fp8> { using type = uint8_t; };

__device__ __forceinline__ void to_float8(const uint4& r, Bf16, float* f) {
  const uint32_t w[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    f[2 * i] = __uint_as_float(w[i] << 16);
    f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
  }
}
__device__ __forceinline__ void to_float8(const uint4& r, F16, float* f) {
  const uint32_t w[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    __half2 h = *reinterpret_cast<const __half2*>(&w[i]);
    float2 v = __half22float2(h);
    f[2 * i] = v.x;
    f[2 * i + 1] = v.y;
  }
}
__device__ __forceinline__ void to_float8(const uint2& r, Fp8, float* f) {
  const uint32_t w[2] = {r.x, r.y};
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      __half2_raw hr = __nv_cvt_fp8x2_to_halfraw2(
          __nv_fp8x2_storage_t((w[i] >> (16 * j)) & 0xffffu), __NV_E4M3);
      float2 v = __half22float2(__half2(hr));
      f[4 * i + 2 * j] = v.x;
      f[4 * i + 2 * j + 1] = v.y;
    }
}

template <typename T>
__device__ __forceinline__ void load_float8(const typename Elem<T>::type* p, float* f) {
  to_float8(*reinterpret_cast<const typename T::Raw*>(p), T{}, f);
}

__device__ __forceinline__ uint16_t from_float(float v, Bf16) { return llmi::f32_to_bf16_bits(v); }
__device__ __forceinline__ uint16_t from_float(float v, F16) {
  return __half_as_ushort(__float2half_rn(v));
}
__device__ __forceinline__ uint8_t from_float(float v, Fp8) {
  return uint8_t(__nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3));
}

}  // namespace paged::detail
