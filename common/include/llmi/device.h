// What the program runs on: presence of a CUDA device, its properties, library versions.
#pragma once
#include <string>

namespace llmi {

// True when a CUDA device is usable. False (never an exception) without a driver or device,
// which is how CPU-only machines such as CI see every GPU test.
bool has_cuda_device();

struct DeviceInfo {
  std::string name = "none";
  int index = -1;
  int sm_count = 0;
  int cc_major = 0, cc_minor = 0;
  size_t l2_bytes = 0;
  size_t global_mem_bytes = 0;
  int sm_clock_mhz = 0, mem_clock_mhz = 0;  // current clocks (NVML-free: cudaDeviceGetAttribute)
  int driver_version = 0, runtime_version = 0;
};

// Properties of `device`, or a DeviceInfo named "none" when no device is usable.
DeviceInfo device_info(int device = 0);

// "2.28.3", or "none" when the build has no NCCL.
std::string nccl_version();

}  // namespace llmi
