// Host side of every flash kernel that uses more than 48 KB of dynamic shared memory.
#pragma once
#include <cuda_runtime.h>

#include <array>

#include "llmi/check.h"

namespace flash {

// Opts kKernel in to `bytes` of dynamic shared memory (CUDA requires it above 48 KB) on the
// current device, once per kernel, device and largest size asked for: cudaFuncSetAttribute
// stays out of the per-launch path.
template <auto kKernel>
void opt_in_dynamic_smem(int bytes) {
  static std::array<int, 64> allowed{};  // per device ordinal
  int device = 0;
  LLMI_CUDA_CHECK(cudaGetDevice(&device));
  LLMI_REQUIRE(device >= 0 && device < int(allowed.size()), "device ordinal " << device << " out of range");
  if (bytes > allowed[size_t(device)]) {
    LLMI_CUDA_CHECK(cudaFuncSetAttribute(kKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
    allowed[size_t(device)] = bytes;
  }
}

}  // namespace flash
