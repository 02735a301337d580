// One Llama decoder layer on the GPU with random bf16 weights, run over a hybrid batch (SARATHI
// §4.2): one prefill chunk of P tokens (a fresh sequence) plus B decodes (each at `decode_ctx`
// cached tokens). The four linear layers run as single cuBLAS GEMMs over all P + B tokens (the
// fused hybrid batch); attention, RoPE/KV append, RMSNorm and SiLU*up are common/llama's CUDA
// kernels (llmi/llama/kernels.h), so the timings are those of the runtime's own layer.
//
// Timed parts (the split of SARATHI Fig. 3 / Sarathi-Serve Table 2):
//   linear     QKV [Q+2KV, H], O [H, Q], gate|up [2I, H], down [H, I] GEMMs over T = P + B rows
//   attention  the prefill chunk's causal attention + every decode over its cache
//   other      2 residual+RMSNorm, RoPE + KV append, SiLU*up
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <memory>
#include <string>

#include "llmi/compare.h"
#include "sarathi/cost_model.h"

namespace sarathi {

class HybridLayer {
 public:
  // Buffers for up to max_tokens new tokens and max_decodes decodes at decode_ctx each.
  HybridLayer(const ModelShape& m, int max_tokens, int max_decodes, int decode_ctx, uint64_t seed);
  ~HybridLayer();
  HybridLayer(const HybridLayer&) = delete;
  HybridLayer& operator=(const HybridLayer&) = delete;

  // Sets the batch composition (uploads its metadata): `prefill` chunk tokens + `decodes`.
  void set_batch(int prefill, int decodes);
  int tokens() const { return prefill_ + decodes_; }

  void linear(cudaStream_t s);     // the 4 GEMMs over tokens() rows (M = tokens())
  void attention(cudaStream_t s);  // hybrid-batch attention
  void other(cudaStream_t s);      // norms, RoPE + KV append, SiLU*up
  void layer(cudaStream_t s) { other(s), linear(s), attention(s); }  // everything once

  // fp64 CPU references on the current batch (run the layer once first):
  // attention rows of the first prefill token, the last prefill token and the last decode
  // (ref::attention over the cached K/V the kernels read), and two rows of the QKV GEMM.
  llmi::Comparison check_attention();
  llmi::Comparison check_qkv();

  static double linear_flops(const ModelShape& m, int tokens);

 private:
  struct Impl;
  std::unique_ptr<Impl> p_;
  int prefill_ = 0, decodes_ = 0;
};

}  // namespace sarathi
