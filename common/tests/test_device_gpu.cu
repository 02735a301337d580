// Device utilities on a real GPU. Without one this binary exits 77 and CTest reports "skipped".
#include <cmath>

#include "llmi/bench.h"
#include "llmi/catch.h"
#include "llmi/check.h"
#include "llmi/compare.h"
#include "llmi/device_buffer.h"
#include "llmi/random.h"

using namespace llmi;

namespace {
__global__ void scale_kernel(float* x, int n, float a) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= a;
}
}  // namespace

TEST_CASE("DeviceBuffer round-trips data and poisons every byte") {
  std::vector<float> h(1000);
  for (int i = 0; i < 1000; ++i) h[i] = float(i) * 0.5f;
  DeviceBuffer<float> d(h);
  CHECK(d.to_host() == h);
  d.poison();
  for (float x : d.to_host()) REQUIRE(std::isnan(x));
  DeviceBuffer<float> moved = std::move(d);
  CHECK(moved.size() == 1000);
  CHECK(d.size() == 0);
}

TEST_CASE("device random fill is bit-identical to the host fill for every dtype") {
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::I8, DType::FP8E4M3}) {
    Tensor dev({3, 1001}, t, Device::Cuda), host({3, 1001}, t, Device::Host);
    dev.poison();
    const float lo = t == DType::I8 ? -100.f : -3.f, hi = t == DType::I8 ? 100.f : 3.f;
    fill_uniform(dev, 42, lo, hi);
    fill_uniform(host, 42, lo, hi);
    Tensor back = dev.to(Device::Host);
    INFO(dtype_name(t));
    REQUIRE(std::memcmp(back.raw(), host.raw(), host.nbytes()) == 0);
  }
}

TEST_CASE("a kernel's output is checked against the host, poisoned first") {
  const int n = 4097;  // not a multiple of the block size
  Tensor x({n}, DType::F32, Device::Cuda);
  fill_uniform(x, 3, -1, 1);
  std::vector<double> ref = x.to_double();
  for (double& v : ref) v *= 2.0;
  scale_kernel<<<(n + 255) / 256, 256>>>(x.data<float>(), n, 2.0f);
  LLMI_LAUNCH_CHECK();
  LLMI_CUDA_CHECK(cudaDeviceSynchronize());
  CHECK(count_poisoned(x) == 0);
  CHECK(compare(x.to_double(), ref).ok(1e-7));
}

TEST_CASE("error checks report the failing call with the library's error string") {
  scale_kernel<<<1, 4096>>>(nullptr, 0, 1.0f);  // 4096 threads per block: never launchable
  LLMI_REQUIRE_THROWS_WITH([] { LLMI_LAUNCH_CHECK(); }(), "cudaGetLastError() failed: cudaError");
  LLMI_REQUIRE_THROWS_WITH([] { LLMI_CUDA_CHECK(cudaSetDevice(1 << 20)); }(),
                           "cudaSetDevice(1 << 20)");
  LLMI_REQUIRE_THROWS_WITH([] { LLMI_CUBLAS_CHECK(cublasDestroy(nullptr)); }(),
                           "CUBLAS_STATUS_NOT_INITIALIZED");
  cudaGetLastError();  // clear the provoked error, or the next launch check would report it
}

TEST_CASE("device info and event timing") {
  DeviceInfo info = device_info();
  CHECK(info.sm_count > 0);
  CHECK(info.l2_bytes > 0);
  bench::Options o;
  o.warmup = 2;
  o.iters = 9;
  DeviceBuffer<float> buf(1 << 24);
  // 64 MiB memset: at a few TB/s this takes tens of microseconds, never zero or seconds.
  bench::Stats s = bench::time_cuda(
      [&](cudaStream_t st) { LLMI_CUDA_CHECK(cudaMemsetAsync(buf.data(), 0, buf.bytes(), st)); }, o);
  CHECK(s.n == 9);
  CHECK(s.median > 0.001);
  CHECK(s.median < 100.0);
  CHECK(s.min <= s.median);
  CHECK(s.median <= s.p90);
}

TEST_CASE("measured ceilings are plausible for a datacenter GPU") {
  bench::Options o;
  const bench::Ceilings& c = bench::device_ceilings(o);
  CHECK(c.gemm_bf16_tflops > 10);
  CHECK(c.copy_gbps > 100);
  CHECK(&bench::device_ceilings(o) == &c);  // measured once per process
}
