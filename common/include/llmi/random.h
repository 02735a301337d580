// Seeded random values, identical on host and device.
//
// A counter-based generator (splitmix64 of seed and element index) needs no state, so a device
// fill and a host fill with the same seed produce the same bits: a kernel's inputs can be made
// on the GPU at full speed and regenerated on the host for the reference.
#pragma once
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "llmi/dtype.h"
#include "llmi/tensor.h"

namespace llmi {

LLMI_HD uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Uniform in [0, 1) with 24 random bits, from (seed, index).
LLMI_HD float uniform01(uint64_t seed, uint64_t index) {
  return float(splitmix64(seed * 0xd1b54a32d192ed03ull + index) >> 40) * 5.9604644775390625e-8f;
}

// lo + span * u as one fused multiply-add on both sides: nvcc would otherwise contract the
// device expression into an FMA while the host rounds twice, and the bits would differ.
LLMI_HD float uniform_in(uint64_t seed, uint64_t index, float lo, float span) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(span, uniform01(seed, index), lo);
#else
  return std::fma(span, uniform01(seed, index), lo);
#endif
}

// Fills `t` (host or device, contiguous) with uniform values in [lo, hi), rounded to its dtype.
void fill_uniform(Tensor& t, uint64_t seed, float lo = -1.0f, float hi = 1.0f);

// Device-pointer form for buffers that are not Tensors.
void fill_uniform_device(void* ptr, DType dtype, size_t count, uint64_t seed, float lo, float hi,
                         cudaStream_t stream = nullptr);

}  // namespace llmi
