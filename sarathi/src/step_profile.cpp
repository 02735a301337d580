#include "sarathi/step_profile.h"

#include <algorithm>
#include <chrono>
#include <functional>

#include "llmi/bench.h"
#include "llmi/check.h"
#include "sarathi/workload.h"

namespace sarathi {

using llmi::llama::Rows;
using llmi::llama::SeqChunk;

namespace {

SeqChunk synthetic_chunk(int seq, int n, int vocab, Rows rows) {
  SeqChunk c;
  c.seq_id = seq, c.rows = rows;
  for (int i = 0; i < n; ++i) c.tokens.push_back(synthetic_token(seq, i, vocab));
  return c;
}

}  // namespace

StepProfiler::StepProfiler(llmi::llama::Runtime& rt, int seqs, int ctx)
    : rt_(rt), seqs_(seqs), ctx_(ctx) {
  LLMI_REQUIRE(seqs >= 1 && seqs <= rt.max_seqs() && ctx >= 1 && ctx < rt.max_context(),
               "step profile: " << seqs << " sequences of " << ctx << " tokens do not fit a runtime"
                                << " of " << rt.max_seqs() << " x " << rt.max_context());
  const int vocab = rt.config().vocab_size;
  for (int s = 0; s < seqs; ++s) {
    rt.reset(s);
    rt.step({synthetic_chunk(s, ctx, vocab, Rows::None)});
  }
}

StepProfiler::~StepProfiler() {
  for (int s = 0; s < seqs_; ++s) rt_.reset(s);
}

double StepProfiler::median_step_s(const std::vector<SeqChunk>& step, int reps) {
  LLMI_REQUIRE(reps >= 1, "step profile: reps must be positive");
  std::vector<double> secs;
  for (int i = 0; i <= reps; ++i) {  // the first run warms up (cuBLAS heuristics, allocations)
    const auto t0 = std::chrono::steady_clock::now();
    rt_.step(step);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (i > 0) secs.push_back(s);
    for (const SeqChunk& c : step) rt_.truncate(c.seq_id, ctx_);
  }
  std::sort(secs.begin(), secs.end());
  return llmi::bench::percentile(secs, 50);
}

double StepProfiler::decode_s(int reps) {
  std::vector<SeqChunk> step;
  for (int s = 0; s < seqs_; ++s)
    step.push_back(synthetic_chunk(s, 1, rt_.config().vocab_size, Rows::Last));
  return median_step_s(step, reps);
}

double StepProfiler::hybrid_s(int chunk, int reps) {
  LLMI_REQUIRE(chunk >= 1 && ctx_ + chunk <= rt_.max_context(),
               "step profile: a chunk of " << chunk << " after " << ctx_
                                           << " tokens exceeds the runtime's context");
  const int vocab = rt_.config().vocab_size;
  std::vector<SeqChunk> step = {synthetic_chunk(0, chunk, vocab, Rows::None)};
  for (int s = 1; s < seqs_; ++s) step.push_back(synthetic_chunk(s, 1, vocab, Rows::Last));
  return median_step_s(step, reps);
}

int StepProfiler::largest_budget_within(std::vector<int> candidates, double max_s, int reps) {
  std::sort(candidates.begin(), candidates.end(), std::greater<>());
  for (int budget : candidates) {
    const int chunk = budget - (seqs_ - 1);
    LLMI_REQUIRE(chunk >= 1, "step profile: budget " << budget << " does not exceed the "
                                                     << seqs_ - 1 << " decodes");
    if (hybrid_s(chunk, reps) <= max_s) return budget;
  }
  return 0;
}

}  // namespace sarathi
