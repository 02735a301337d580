// One-time profiling of a real runtime before serving on it (Sarathi-Serve §4.3, Table 3): the
// strict TBT SLO is 5x the time of a decode iteration (batch 32 at 4K context in the paper), and
// the token budget is the largest one whose hybrid iteration stays within the SLO.
#pragma once
#include <vector>

#include "llmi/llama/runtime.h"

namespace sarathi {

// Sequences 0 .. seqs-1 of a runtime filled once with `ctx` cached tokens each (one prefill step
// per sequence, synthetic tokens), then steps timed over them, each undone by truncation. The
// slots are left empty on destruction.
class StepProfiler {
 public:
  StepProfiler(llmi::llama::Runtime& rt, int seqs, int ctx);
  ~StepProfiler();
  StepProfiler(const StepProfiler&) = delete;
  StepProfiler& operator=(const StepProfiler&) = delete;

  // Median wall seconds of `reps` steps (after one untimed warm-up) in which every sequence
  // decodes one token.
  double decode_s(int reps);
  // The same for a hybrid step: `chunk` prefill tokens of sequence 0 after its cached ones (a
  // later chunk of a long prompt) beside one decode of every other sequence.
  double hybrid_s(int chunk, int reps);
  // The largest budget B in `candidates` whose hybrid step (B - (seqs - 1) prefill tokens plus
  // seqs - 1 decodes) takes at most max_s; 0 if none does. Tries the largest first.
  int largest_budget_within(std::vector<int> candidates, double max_s, int reps);

  int seqs() const { return seqs_; }
  int ctx() const { return ctx_; }

 private:
  double median_step_s(const std::vector<llmi::llama::SeqChunk>& step, int reps);

  llmi::llama::Runtime& rt_;
  int seqs_, ctx_;
};

}  // namespace sarathi
