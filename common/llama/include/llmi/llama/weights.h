// Model weights on the host in fp32, in Hugging Face layout (nn.Linear weights are [out, in]).
//
// The CPU reference runs on these directly; the CUDA backend uploads them as bf16. Large
// random-weight models for benchmarks skip the host entirely (CudaModel makes them on device).
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "llmi/llama/config.h"

namespace llmi::llama {

struct LayerWeights {
  std::vector<float> attn_norm;        // [hidden]
  std::vector<float> wq, wk, wv, wo;   // [q_dim, hidden], [kv_dim, hidden] x2, [hidden, q_dim]
  std::vector<float> bq, bk, bv, bo;   // biases, empty when the config has none
  std::vector<float> mlp_norm;         // [hidden]
  std::vector<float> w_gate, w_up;     // [intermediate, hidden]
  std::vector<float> w_down;           // [hidden, intermediate]
};

struct HostWeights {
  Config config;
  std::vector<float> embed;       // [vocab, hidden]
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;  // [hidden]
  std::vector<float> lm_head;     // [vocab, hidden]; a copy of embed when tied
};

// Loads config.json and the safetensors checkpoint of a Hugging Face model directory; every
// tensor's shape is checked against the config (errors name the tensor and file).
HostWeights load_weights(const std::string& model_dir);

// Random weights of the given shape (uniform, scaled like a trained model's so activations stay
// O(1); norms are 1): for tests and for benchmarks without a checkpoint.
HostWeights random_weights(const Config& config, uint64_t seed);

// Writes `w` as a Hugging Face directory (config.json + model.safetensors in `dtype`), so tests
// can build small checkpoints of any variant.
void save_model_dir(const HostWeights& w, const std::string& dir, const std::string& dtype);

// Half-width of the uniform init for a [out, in] matrix: variance 1/fan_in keeps x W^T at the
// size of x.
inline float init_scale(int fan_in) { return std::sqrt(3.0f / float(fan_in > 0 ? fan_in : 1)); }

}  // namespace llmi::llama
