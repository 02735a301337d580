// ceilings_bench: the two numbers every figure in this repo is compared against.
//
//   bf16 GEMM TFLOP/s  cuBLAS, fp32 accumulation, 8192^3, random inputs (zeros run faster)
//   copy GB/s          device-to-device cudaMemcpy of 2 GiB, counting bytes read + written
//
// Before timing, the same cuBLAS call is checked against the fp64 CPU reference on a 256^3
// product. Run: ceilings_bench [--json results/ceilings.json]
#include <cublas_v2.h>

#include "llmi/bench.h"
#include "llmi/check.h"
#include "llmi/compare.h"
#include "llmi/cpu_ref.h"
#include "llmi/random.h"

using namespace llmi;

namespace {
// C = A B^T with the layout the ceiling uses (row-major A [n,n], B [n,n] as nn.Linear weights).
Comparison check_gemm(uint64_t seed) {
  const int n = 256;
  Tensor a({n, n}, DType::BF16, Device::Cuda), b({n, n}, DType::BF16, Device::Cuda),
      c({n, n}, DType::BF16, Device::Cuda);
  fill_uniform(a, seed, -1, 1);
  fill_uniform(b, seed + 1, -1, 1);
  c.poison();
  cublasHandle_t h;
  LLMI_CUBLAS_CHECK(cublasCreate(&h));
  const float alpha = 1, beta = 0;
  // Row-major C = A B^T is column-major C^T = B A^T: cuBLAS sees B as op=T of a col-major n x n.
  LLMI_CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &alpha, b.raw(), CUDA_R_16BF,
                                 n, a.raw(), CUDA_R_16BF, n, &beta, c.raw(), CUDA_R_16BF, n,
                                 CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  LLMI_CUDA_CHECK(cudaDeviceSynchronize());
  LLMI_CUBLAS_CHECK(cublasDestroy(h));
  auto ha = a.to_double(), hb = b.to_double();
  std::vector<double> ref(size_t(n) * n);
  ref::gemm(ha.data(), hb.data(), ref.data(), n, n, n, /*b_transposed=*/true);
  LLMI_REQUIRE(count_poisoned(c) == 0, "GEMM left elements unwritten");
  return compare(c.to_double(), ref);
}
}  // namespace

int main(int argc, char** argv) {
  bench::Options opt;
  CLI::App app{"Measured device ceilings: bf16 GEMM TFLOP/s and copy bandwidth"};
  bench::add_options(app, opt);
  CLI11_PARSE(app, argc, argv);
  try {
    bench::Report report("ceilings", opt, argc, argv);
    const char* peer = "peer figures on the H100 (shared anchors): cuBLASLt bf16 8192^3 795 TFLOP/s, "
                       "copy 2987 GB/s";
    if (!has_cuda_device()) {
      std::puts("ceilings_bench: no CUDA device, nothing to measure (skipped)");
      report.set_headline("not measured: no CUDA device", peer);
      return report.finish();
    }
    LLMI_CUDA_CHECK(cudaSetDevice(opt.device));
    const bench::Ceilings& c = bench::device_ceilings(opt);
    char line[160];
    std::snprintf(line, sizeof line, "bf16 GEMM %.0f TFLOP/s, copy %.0f GB/s on %s",
                  c.gemm_bf16_tflops, c.copy_gbps, device_info(opt.device).name.c_str());
    report.set_headline(line, peer);

    bench::Result g;
    g.name = "gemm_bf16_8192";
    g.params = {{"m", 8192}, {"n", 8192}, {"k", 8192}};
    g.ms = c.gemm_ms;
    g.flops = 2.0 * 8192.0 * 8192.0 * 8192.0;
    if (opt.check) {
      Comparison cmp = check_gemm(opt.seed);
      g.check = cmp.str();
      g.check_ok = cmp.ok(1e-2);  // bf16 output rounding: about 2^-9 relative per element
    }
    report.add(g);

    bench::Result m;
    m.name = "copy_d2d_2GiB";
    m.params = {{"bytes", 2147483648.0}};
    m.bytes = 2.0 * 2147483648.0;
    m.ms = c.copy_ms;
    report.add(m);
    return report.finish();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ceilings_bench: %s\n", e.what());
    return 1;
  }
}
