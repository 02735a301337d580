// The plain decode loop every speculative method is compared against.
#include "llmi/llama/generate.h"

#include <algorithm>
#include <chrono>

#include "llmi/check.h"

namespace llmi::llama {

GenerateResult generate(Runtime& rt, const std::vector<int>& prompt, const GenerateOptions& opt,
                        const std::function<void(int)>& on_token) {
  LLMI_REQUIRE(!prompt.empty(), "generate: empty prompt");
  LLMI_REQUIRE(opt.max_new_tokens >= 0, "generate: max_new_tokens must be >= 0");
  LLMI_REQUIRE(int(prompt.size()) < rt.max_context(),
               "generate: prompt of " << prompt.size() << " tokens does not fit the context of "
                                      << rt.max_context() << " tokens");
  using clock = std::chrono::steady_clock;
  GenerateResult res;
  Sampler sampler(opt.sampling);
  rt.reset(opt.seq_id);

  auto t0 = clock::now();
  const int chunk = opt.prefill_chunk > 0 ? opt.prefill_chunk : int(prompt.size());
  StepOutput out;
  for (size_t b = 0; b < prompt.size(); b += size_t(chunk)) {
    SeqChunk c;
    c.seq_id = opt.seq_id;
    c.tokens.assign(prompt.begin() + long(b), prompt.begin() + long(std::min(prompt.size(), b + size_t(chunk))));
    c.rows = b + size_t(chunk) >= prompt.size() ? Rows::Last : Rows::None;
    out = rt.step({c});
  }
  res.prefill_tokens = int(prompt.size());
  int next = opt.max_new_tokens > 0 ? sampler.sample(out.row_logits(0, 0), out.vocab) : -1;
  res.prefill_seconds = std::chrono::duration<double>(clock::now() - t0).count();

  auto t1 = clock::now();
  res.stop_reason = "max_new_tokens";
  while (int(res.tokens.size()) < opt.max_new_tokens) {
    res.tokens.push_back(next);
    if (on_token) on_token(next);
    if (opt.stop_at_eos && rt.config().is_eos(next)) {
      res.stop_reason = "eos";
      break;
    }
    if (int(res.tokens.size()) == opt.max_new_tokens) break;
    if (rt.length(opt.seq_id) >= rt.max_context()) {
      res.stop_reason = "context";
      break;
    }
    SeqChunk c;
    c.seq_id = opt.seq_id;
    c.tokens = {next};
    out = rt.step({c});
    next = sampler.sample(out.row_logits(0, 0), out.vocab);
  }
  res.decode_seconds = std::chrono::duration<double>(clock::now() - t1).count();
  return res;
}

}  // namespace llmi::llama
