#include "llmi/device.h"

#include <cuda_runtime.h>

#include "llmi/check.h"

#ifdef LLMI_HAVE_NCCL
#include <nccl.h>
#endif

namespace llmi {

bool has_cuda_device() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error so later probes start clean
    return false;
  }
  return n > 0;
}

DeviceInfo device_info(int device) {
  DeviceInfo info;
  if (!has_cuda_device()) return info;
  cudaDeviceProp p{};
  LLMI_CUDA_CHECK(cudaGetDeviceProperties(&p, device));
  info.name = p.name;
  info.index = device;
  info.sm_count = p.multiProcessorCount;
  info.cc_major = p.major;
  info.cc_minor = p.minor;
  info.l2_bytes = size_t(p.l2CacheSize);
  info.global_mem_bytes = p.totalGlobalMem;
  int khz = 0;
  if (cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, device) == cudaSuccess)
    info.sm_clock_mhz = khz / 1000;
  if (cudaDeviceGetAttribute(&khz, cudaDevAttrMemoryClockRate, device) == cudaSuccess)
    info.mem_clock_mhz = khz / 1000;
  cudaDriverGetVersion(&info.driver_version);
  cudaRuntimeGetVersion(&info.runtime_version);
  return info;
}

std::string nccl_version() {
#ifdef LLMI_HAVE_NCCL
  int v = 0;
  if (ncclGetVersion(&v) != ncclSuccess) return "unknown";
  // NCCL >= 2.9 encodes major*10000 + minor*100 + patch.
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." +
         std::to_string(v % 100);
#else
  return "none";
#endif
}

}  // namespace llmi
