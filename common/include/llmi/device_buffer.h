// DeviceBuffer<T>: an owning, typed, RAII device allocation (cudaMalloc, never managed memory).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <utility>
#include <vector>

#include "llmi/check.h"

namespace llmi {

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t count) : count_(count) {
    if (count_) LLMI_CUDA_CHECK(cudaMalloc(&ptr_, count_ * sizeof(T)));
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) {
    copy_from_host(host.data(), host.size());
  }
  ~DeviceBuffer() {
    if (ptr_) cudaFree(ptr_);  // no throw from a destructor; a failed free leaks, nothing worse
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), count_(std::exchange(o.count_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      if (ptr_) cudaFree(ptr_);
      ptr_ = std::exchange(o.ptr_, nullptr);
      count_ = std::exchange(o.count_, 0);
    }
    return *this;
  }

  T* data() { return ptr_; }
  const T* data() const { return ptr_; }
  size_t size() const { return count_; }
  size_t bytes() const { return count_ * sizeof(T); }

  void copy_from_host(const T* src, size_t count, cudaStream_t s = nullptr) {
    LLMI_REQUIRE(count <= count_, "copy of " << count << " elements into a buffer of " << count_);
    LLMI_CUDA_CHECK(cudaMemcpyAsync(ptr_, src, count * sizeof(T), cudaMemcpyHostToDevice, s));
    LLMI_CUDA_CHECK(cudaStreamSynchronize(s));
  }
  std::vector<T> to_host(cudaStream_t s = nullptr) const {
    std::vector<T> out(count_);
    if (count_) {
      LLMI_CUDA_CHECK(cudaMemcpyAsync(out.data(), ptr_, bytes(), cudaMemcpyDeviceToHost, s));
      LLMI_CUDA_CHECK(cudaStreamSynchronize(s));
    }
    return out;
  }
  // Fills every byte with `byte` (0xFF makes fp32/bf16/fp16 NaN): outputs are poisoned before a
  // kernel runs so that an element the kernel never wrote cannot pass a check.
  void poison(unsigned char byte = 0xFF, cudaStream_t s = nullptr) {
    if (count_) LLMI_CUDA_CHECK(cudaMemsetAsync(ptr_, byte, bytes(), s));
  }

 private:
  T* ptr_ = nullptr;
  size_t count_ = 0;
};

}  // namespace llmi
