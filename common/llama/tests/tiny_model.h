// A tiny random Llama for runtime tests (fast on any machine, GQA 4:2, biases optional).
#pragma once
#include <cmath>
#include <memory>
#include <vector>

#include "llmi/llama/runtime.h"
#include "llmi/llama/weights.h"

namespace llmi::llama::test {

inline Config tiny_config(bool qkv_bias = false) {
  Config c;
  c.model_type = qkv_bias ? "qwen2" : "llama";
  c.vocab_size = 96, c.hidden = 64, c.intermediate = 96, c.layers = 2, c.heads = 4, c.kv_heads = 2;
  c.head_dim = 32, c.max_positions = 64, c.rope_theta = 10000.0, c.qkv_bias = qkv_bias;
  c.bos_token = 1, c.eos_tokens = {2};
  return c;
}

inline std::shared_ptr<const HostWeights> tiny_weights(bool qkv_bias = false, uint64_t seed = 7) {
  return std::make_shared<const HostWeights>(random_weights(tiny_config(qkv_bias), seed));
}

inline std::vector<int> tokens(int n, int salt = 0, int vocab = 96) {
  std::vector<int> t(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) t[size_t(i)] = (i * 37 + salt * 11 + 5) % vocab;
  return t;
}

// One sequence's share of a step: `toks` as new tokens, logits for `rows`.
inline SeqChunk chunk(int seq, std::vector<int> toks, Rows rows = Rows::Last) {
  SeqChunk c;
  c.seq_id = seq;
  c.tokens = std::move(toks);
  c.rows = rows;
  return c;
}

// max |a - b| / max |b|
inline double rel_max_err(const float* a, const float* b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    num = std::fmax(num, std::fabs(double(a[i]) - double(b[i])));
    den = std::fmax(den, std::fabs(double(b[i])));
  }
  return den > 0 ? num / den : num;
}

}  // namespace llmi::llama::test
