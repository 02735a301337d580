// Host side: how many thread blocks of a kernel the current device runs at once.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>

#include "llmi/check.h"

namespace flash {

// SMs x resident blocks per SM of kKernel at this block size and dynamic shared memory (which
// must already be opted in), computed once per kernel. The SM count comes from
// cudaDeviceGetAttribute, not cudaGetDeviceProperties, which costs ~1 ms per call (it once set
// a 1 ms floor on every decode step).
template <auto kKernel>
int resident_slots(int threads, int smem_bytes) {
  static int slots = 0;
  if (slots == 0) {
    int device = 0, sms = 0, per_sm = 0;
    LLMI_CUDA_CHECK(cudaGetDevice(&device));
    LLMI_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    LLMI_CUDA_CHECK(
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kKernel, threads, smem_bytes));
    slots = std::max(1, sms * per_sm);
  }
  return slots;
}

}  // namespace flash
