// The GPU engine for ring_harness.h, and the bf16 error bound it is held to.
#pragma once
#include "../kernels/gpu_engine.h"
#include "nccl_communicator.h"
#include "ring_harness.h"

namespace llmi::cp::test {

// bf16 inputs (8 bits of mantissa) against fp64 attention of the unrounded inputs, fp32 math.
constexpr double kBoundBf16 = 1e-2;

struct MakeGpuEngine {
  cudaStream_t stream;
  GpuEngine operator()(const AttnShape& shape) const { return GpuEngine(shape, stream); }
};

}  // namespace llmi::cp::test
