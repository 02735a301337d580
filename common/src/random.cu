#include <algorithm>

#include "llmi/check.h"
#include "llmi/random.h"

namespace llmi {

namespace {
// Grid-stride: one thread per element, the same (seed, index) -> value map as the host.
__global__ void fill_uniform_kernel(void* out, DType dtype, size_t n, uint64_t seed, float lo,
                                    float span) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x) {
    float v = uniform_in(seed, i, lo, span);
    switch (dtype) {
      case DType::F32: static_cast<float*>(out)[i] = v; break;
      case DType::F16: static_cast<uint16_t*>(out)[i] = f32_to_f16_bits(v); break;
      case DType::BF16: static_cast<uint16_t*>(out)[i] = f32_to_bf16_bits(v); break;
      case DType::I8: {
        float r = fminf(fmaxf(v, -128.f), 127.f);
        static_cast<int8_t*>(out)[i] = int8_t(r < 0 ? r - 0.5f : r + 0.5f);
        break;
      }
      case DType::FP8E4M3: static_cast<uint8_t*>(out)[i] = f32_to_e4m3_bits(v); break;
    }
  }
}
}  // namespace

void fill_uniform_device(void* ptr, DType dtype, size_t count, uint64_t seed, float lo, float hi,
                         cudaStream_t stream) {
  LLMI_REQUIRE(hi > lo, "fill_uniform: empty range [" << lo << ", " << hi << ")");
  if (!count) return;
  const int threads = 256;
  const int blocks = int(std::min<size_t>((count + threads - 1) / threads, 65536));
  fill_uniform_kernel<<<blocks, threads, 0, stream>>>(ptr, dtype, count, seed, lo, hi - lo);
  LLMI_LAUNCH_CHECK();
}

void fill_uniform(Tensor& t, uint64_t seed, float lo, float hi) {
  LLMI_REQUIRE(hi > lo, "fill_uniform: empty range [" << lo << ", " << hi << ")");
  LLMI_REQUIRE(t.is_contiguous(), "fill_uniform needs a contiguous tensor");
  if (t.device() == Device::Cuda) {
    fill_uniform_device(t.raw(), t.dtype(), size_t(t.numel()), seed, lo, hi);
    LLMI_CUDA_CHECK(cudaDeviceSynchronize());
    return;
  }
  for (size_t i = 0; i < size_t(t.numel()); ++i)
    store_from_float(t.raw(), t.dtype(), i, uniform_in(seed, i, lo, hi - lo));
}

}  // namespace llmi
