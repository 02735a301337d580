// The decode loop: prefill the prompt, then one token per step until EOS or the length limit.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "llmi/llama/runtime.h"
#include "llmi/llama/sampling.h"

namespace llmi::llama {

struct GenerateOptions {
  int max_new_tokens = 64;
  SamplingParams sampling;
  bool stop_at_eos = true;
  int seq_id = 0;
  int prefill_chunk = 0;  // tokens per prefill step; 0 = the whole prompt in one step
};

struct GenerateResult {
  std::vector<int> tokens;        // generated tokens (the EOS included when it stopped there)
  std::string stop_reason;        // "eos", "max_new_tokens" or "context"
  int prefill_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;  // wall time, including the sampling
};

// Resets seq_id, runs the prompt and decodes. A prompt that does not fit the context is an
// llmi::Error; reaching the context end while decoding stops with "context".
// on_token (optional) sees each new token as it is chosen, for streaming.
GenerateResult generate(Runtime& rt, const std::vector<int>& prompt, const GenerateOptions& opt,
                        const std::function<void(int)>& on_token = nullptr);

}  // namespace llmi::llama
