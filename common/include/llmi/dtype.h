// Element types and exact host-side conversions for the formats the papers use.
//
// Conversions are written out (not taken from cuda_fp16.h / cuda_bf16.h) so CPU references and
// CPU-only tools share one definition with device code: the same bits on both sides.
// Rounding is round-to-nearest-even everywhere, as the hardware does.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

#if defined(__CUDACC__)
#define LLMI_HD __host__ __device__ __forceinline__
#else
#define LLMI_HD inline
#endif

namespace llmi {

enum class DType : uint8_t { F32, F16, BF16, I8, FP8E4M3 };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F16:
    case DType::BF16: return 2;
    case DType::I8:
    case DType::FP8E4M3: return 1;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "fp32";
    case DType::F16: return "fp16";
    case DType::BF16: return "bf16";
    case DType::I8: return "int8";
    case DType::FP8E4M3: return "fp8_e4m3";
  }
  return "?";
}

// Parses the names above and the safetensors spellings (F32, F16, BF16, I8, F8_E4M3).
// Throws llmi::Error naming the unknown type.
DType parse_dtype(const std::string& name);

LLMI_HD uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
LLMI_HD float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// bf16 is the top half of an fp32: round the low 16 bits to nearest even. NaN stays NaN.
LLMI_HD uint16_t f32_to_bf16_bits(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
LLMI_HD float bf16_bits_to_f32(uint16_t h) { return bits_f32(uint32_t(h) << 16); }

// IEEE half: 1 sign, 5 exponent (bias 15), 10 mantissa bits; subnormals and inf handled.
LLMI_HD uint16_t f32_to_f16_bits(float f) {
  uint32_t u = f32_bits(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return uint16_t(sign | 0x7e00u);                // NaN
  if (a >= 0x477ff000u) return uint16_t(sign | 0x7c00u);               // rounds to inf
  if (a < 0x38800000u) {                                               // half subnormal or 0
    // value * 2^24 rounded to nearest even is the subnormal's integer mantissa.
    float v = bits_f32(a) * 16777216.0f;
    uint32_t m = uint32_t(v);
    float rem = v - float(m);
    if (rem > 0.5f || (rem == 0.5f && (m & 1u))) ++m;
    return uint16_t(sign | m);
  }
  uint32_t r = a - 0x38000000u;  // rebias exponent 127 -> 15 (in the 13-bit-shifted domain)
  r += 0xfffu + ((r >> 13) & 1u);
  return uint16_t(sign | (r >> 13));
}
LLMI_HD float f16_bits_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0) {  // zero or subnormal: m * 2^-24
    float v = float(m) * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  if (e == 31) return bits_f32(sign | 0x7f800000u | (m << 13));
  return bits_f32(sign | ((e + 112u) << 23) | (m << 13));
}

// OCP FP8 E4M3 (the "fn" variant used by Hopper): bias 7, no infinities, max 448, NaN = S.1111.111.
// Out-of-range values saturate to +-448, as cvt.satfinite does in the kernels.
LLMI_HD uint8_t f32_to_e4m3_bits(float f) {
  uint32_t u = f32_bits(f);
  uint8_t sign = uint8_t((u >> 24) & 0x80u);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return uint8_t(sign | 0x7f);
  float v = bits_f32(a);
  if (v >= 448.0f) return uint8_t(sign | 0x7e);
  if (v < 0.015625f) {  // below 2^-6: subnormal, step 2^-9
    float q = v * 512.0f;
    uint32_t m = uint32_t(q);
    float rem = q - float(m);
    if (rem > 0.5f || (rem == 0.5f && (m & 1u))) ++m;
    return uint8_t(sign | m);  // m == 8 lands exactly on the smallest normal's encoding
  }
  uint32_t r = a - (120u << 23);  // rebias 127 -> 7
  r += 0x7ffffu + ((r >> 20) & 1u);
  uint32_t bits = r >> 20;
  if (bits > 0x7e) bits = 0x7e;
  return uint8_t(sign | bits);
}
LLMI_HD float e4m3_bits_to_f32(uint8_t b) {
  uint32_t sign = uint32_t(b & 0x80u) << 24;
  uint32_t e = (b >> 3) & 0xfu, m = b & 0x7u;
  if (e == 15 && m == 7) return bits_f32(0x7fc00000u);
  if (e == 0) {
    float v = float(m) * 0.001953125f;  // 2^-9
    return sign ? -v : v;
  }
  return bits_f32(sign | ((e + 120u) << 23) | (m << 20));
}

// Reads element i of a buffer of type t as float (host code: tests, references, loaders).
inline float load_as_float(const void* p, DType t, size_t i) {
  switch (t) {
    case DType::F32: return static_cast<const float*>(p)[i];
    case DType::F16: return f16_bits_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::BF16: return bf16_bits_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::I8: return float(static_cast<const int8_t*>(p)[i]);
    case DType::FP8E4M3: return e4m3_bits_to_f32(static_cast<const uint8_t*>(p)[i]);
  }
  return 0.0f;
}

// Writes v as element i of a buffer of type t (int8 saturates and rounds half away from zero).
inline void store_from_float(void* p, DType t, size_t i, float v) {
  switch (t) {
    case DType::F32: static_cast<float*>(p)[i] = v; break;
    case DType::F16: static_cast<uint16_t*>(p)[i] = f32_to_f16_bits(v); break;
    case DType::BF16: static_cast<uint16_t*>(p)[i] = f32_to_bf16_bits(v); break;
    case DType::I8: {
      float r = v < -128.f ? -128.f : (v > 127.f ? 127.f : v);
      static_cast<int8_t*>(p)[i] = int8_t(r < 0 ? r - 0.5f : r + 0.5f);
      break;
    }
    case DType::FP8E4M3: static_cast<uint8_t*>(p)[i] = f32_to_e4m3_bits(v); break;
  }
}

}  // namespace llmi
