#include "llmi/tensor.h"

#include <cuda_runtime.h>

#include <cstring>
#include <sstream>

#include "llmi/check.h"

namespace llmi {

namespace {
std::vector<int64_t> row_major_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> s(shape.size());
  int64_t acc = 1;
  for (int i = int(shape.size()) - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

std::shared_ptr<void> allocate(size_t bytes, Device d) {
  if (d == Device::Host) return std::shared_ptr<void>(::operator new(bytes ? bytes : 1),
                                                      [](void* p) { ::operator delete(p); });
  void* p = nullptr;
  if (bytes) LLMI_CUDA_CHECK(cudaMalloc(&p, bytes));
  return std::shared_ptr<void>(p, [](void* q) { if (q) cudaFree(q); });
}

// Calls f(logical_index, storage_offset) for every element in row-major logical order.
template <typename F>
void for_each_offset(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides, F f) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    for (size_t d = 0; d < shape.size(); ++d) off += idx[d] * strides[d];
    f(i, off);
    for (int d = int(shape.size()) - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}
}  // namespace

Tensor::Tensor(std::vector<int64_t> shape, DType dtype, Device device)
    : shape_(std::move(shape)), dtype_(dtype), device_(device) {
  for (auto d : shape_) LLMI_REQUIRE(d >= 0, "negative dimension in shape " << shape_str());
  strides_ = row_major_strides(shape_);
  data_ = allocate(nbytes(), device_);
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (auto d : shape_) n *= d;
  return n;
}

bool Tensor::is_contiguous() const { return strides_ == row_major_strides(shape_); }

std::string Tensor::shape_str() const {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape_.size(); ++i) os << (i ? ", " : "") << shape_[i];
  os << "] " << dtype_name(dtype_);
  return os.str();
}

Tensor Tensor::permute(const std::vector<int>& order) const {
  LLMI_REQUIRE(order.size() == shape_.size(),
               "permute order has " << order.size() << " dims, tensor " << shape_str());
  Tensor v = *this;
  std::vector<bool> seen(order.size(), false);
  for (size_t i = 0; i < order.size(); ++i) {
    LLMI_REQUIRE(order[i] >= 0 && order[i] < rank() && !seen[order[i]],
                 "permute order is not a permutation of 0.." << rank() - 1);
    seen[order[i]] = true;
    v.shape_[i] = shape_[order[i]];
    v.strides_[i] = strides_[order[i]];
  }
  return v;
}

Tensor Tensor::to(Device d) const {
  if (d == device_) return *this;
  LLMI_REQUIRE(is_contiguous(), "only contiguous tensors move between host and device");
  Tensor out(shape_, dtype_, d);
  if (nbytes())
    LLMI_CUDA_CHECK(cudaMemcpy(out.raw(), raw(), nbytes(),
                               d == Device::Cuda ? cudaMemcpyHostToDevice
                                                 : cudaMemcpyDeviceToHost));
  return out;
}

std::vector<double> Tensor::to_double() const {
  if (device_ == Device::Cuda) return to(Device::Host).to_double();
  std::vector<double> out(static_cast<size_t>(numel()));
  for_each_offset(shape_, strides_, [&](int64_t i, int64_t off) {
    out[size_t(i)] = load_as_float(raw(), dtype_, size_t(off));
  });
  return out;
}

std::vector<float> Tensor::to_float() const {
  auto d = to_double();
  return std::vector<float>(d.begin(), d.end());
}

Tensor Tensor::from_float(const std::vector<float>& values, std::vector<int64_t> shape,
                          DType dtype) {
  Tensor t(std::move(shape), dtype, Device::Host);
  LLMI_REQUIRE(size_t(t.numel()) == values.size(),
               values.size() << " values do not fill shape " << t.shape_str());
  for (size_t i = 0; i < values.size(); ++i) store_from_float(t.raw(), dtype, i, values[i]);
  return t;
}

void Tensor::poison(unsigned char byte) {
  LLMI_REQUIRE(is_contiguous(), "poison() needs a contiguous tensor");
  if (!nbytes()) return;
  if (device_ == Device::Host)
    std::memset(raw(), byte, nbytes());
  else
    LLMI_CUDA_CHECK(cudaMemset(raw(), byte, nbytes()));
}

}  // namespace llmi
