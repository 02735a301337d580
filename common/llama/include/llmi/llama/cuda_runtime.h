// CUDA backend: bf16 weights, KV cache and activations (fp32 residual stream and accumulation),
// cuBLAS GEMMs over all new tokens of the batch, fused kernels for the rest, and a CUDA graph
// for the batch-1 decode step. Same Runtime interface and semantics as the CPU reference.
#pragma once
#include <memory>

#include "llmi/llama/runtime.h"
#include "llmi/llama/weights.h"

namespace llmi::llama {

struct CudaOptions : RuntimeOptions {
  int max_step_tokens = 2048;  // new tokens per step (all sequences); sizes activation buffers
  bool decode_graph = true;    // capture and replay a CUDA graph for 1-sequence 1-token steps
  bool small_batch_gemv = true;  // steps of <= 8 tokens: own streaming GEMV instead of cuBLAS
  int device = 0;
};

// Uploads host weights (rounded to bf16). Throws llmi::Error without a CUDA device.
std::unique_ptr<Runtime> make_cuda_runtime(const HostWeights& weights, CudaOptions opt = {});
// Random bf16 weights made directly on the device (benchmarks at 7B/13B sizes without a
// checkpoint); the same distribution as random_weights() but not the same values.
std::unique_ptr<Runtime> make_cuda_runtime_random(const Config& config, uint64_t seed,
                                                  CudaOptions opt = {});

// Bytes of weights one decode step must read (all matrices + norms + the LM head), for the
// memory-floor figure of the benchmark.
double weight_bytes_bf16(const Config& c);

}  // namespace llmi::llama
