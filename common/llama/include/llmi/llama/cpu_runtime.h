// CPU fp32 reference backend: the textbook Llama forward, used by every CPU test in CI.
#pragma once
#include <memory>

#include "llmi/llama/runtime.h"
#include "llmi/llama/weights.h"

namespace llmi::llama {

std::unique_ptr<Runtime> make_cpu_runtime(std::shared_ptr<const HostWeights> weights,
                                          RuntimeOptions opt = {});

// y[T, N] = x[T, K] W[N, K]^T (+ b[N] when b is non-null): nn.Linear on fp32 rows.
void cpu_linear(const float* x, const float* W, const float* b, float* y, int T, int N, int K);

}  // namespace llmi::llama
