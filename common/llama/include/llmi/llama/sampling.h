// Next-token choice: greedy, temperature, top-k and top-p (nucleus) sampling with a seeded RNG.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace llmi::llama {

struct SamplingParams {
  float temperature = 0.0f;  // 0 = greedy (argmax)
  int top_k = 0;             // keep the k most likely tokens; 0 = all
  float top_p = 1.0f;        // keep the smallest prefix of tokens (by probability) with mass >= p
  uint64_t seed = 0;
};

// Argmax; ties go to the lowest id.
int argmax(const float* logits, int vocab);

// The tokens sampling may pick and their renormalised probabilities, most likely first:
// softmax(logits / T), then top-k, then top-p. Exposed so tests can check the support sets.
std::vector<std::pair<int, double>> sampling_distribution(const float* logits, int vocab,
                                                          const SamplingParams& p);

class Sampler {
 public:
  explicit Sampler(SamplingParams p);
  // Greedy when temperature == 0; else a draw from sampling_distribution with the counter-based
  // RNG (seed, draw index), so a seed reproduces a run exactly.
  int sample(const float* logits, int vocab);
  const SamplingParams& params() const { return p_; }

 private:
  SamplingParams p_;
  uint64_t draws_ = 0;
};

}  // namespace llmi::llama
