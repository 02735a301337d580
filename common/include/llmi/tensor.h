// Tensor: shape, strides (in elements), dtype and storage on the host or a CUDA device.
//
// Deliberately small: kernels take raw pointers and shapes; Tensor carries data between the
// random generators, the CPU references, the device and the comparison helpers.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "llmi/dtype.h"

namespace llmi {

enum class Device : uint8_t { Host, Cuda };

class Tensor {
 public:
  Tensor() = default;
  // Allocates a contiguous (row-major) tensor. Device memory comes from cudaMalloc.
  Tensor(std::vector<int64_t> shape, DType dtype, Device device = Device::Host);

  const std::vector<int64_t>& shape() const { return shape_; }
  const std::vector<int64_t>& strides() const { return strides_; }
  int64_t dim(int i) const { return shape_.at(i < 0 ? shape_.size() + i : i); }
  int rank() const { return int(shape_.size()); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  int64_t numel() const;
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
  bool is_contiguous() const;
  std::string shape_str() const;  // "[2, 3, 4] bf16"

  void* raw() { return data_.get(); }
  const void* raw() const { return data_.get(); }
  template <typename T> T* data() { return static_cast<T*>(raw()); }
  template <typename T> const T* data() const { return static_cast<const T*>(raw()); }

  // A view with dimensions reordered (shares storage; strides permuted, so not contiguous).
  Tensor permute(const std::vector<int>& order) const;

  // Copies to the other side (a no-op copy of the handle when already there).
  Tensor to(Device d) const;
  // Host fp64/fp32 copies of the values in logical row-major order (honours strides),
  // for references and comparisons.
  std::vector<double> to_double() const;
  std::vector<float> to_float() const;
  // Host tensor of `dtype` holding `values` (rounded to dtype).
  static Tensor from_float(const std::vector<float>& values, std::vector<int64_t> shape,
                           DType dtype);
  // Fills every byte (see DeviceBuffer::poison): works on either side.
  void poison(unsigned char byte = 0xFF);

 private:
  std::vector<int64_t> shape_, strides_;
  DType dtype_ = DType::F32;
  Device device_ = Device::Host;
  std::shared_ptr<void> data_;
};

}  // namespace llmi
