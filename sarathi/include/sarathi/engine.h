// Drives the Llama runtime (common/llama) with a scheduler: each batch becomes one
// Runtime::step() whose SeqChunks are the batch's prefill chunks and decodes (SARATHI's hybrid
// batch: the runtime fuses their linear layers into single GEMMs). Greedy decoding, so every
// scheduler must reproduce the tokens of unbatched greedy decoding.
#pragma once
#include <functional>
#include <map>
#include <vector>

#include "llmi/llama/runtime.h"
#include "sarathi/scheduler.h"

namespace sarathi {

struct EngineRequest {
  int id = 0;
  std::vector<int> prompt;
  int output_len = 0;
};

struct EngineStats {
  int steps = 0;
  int preemptions = 0;
  int max_batch_tokens = 0;
  int max_batch_seqs = 0;
};

// Called after each step with the batch and the wall seconds of Runtime::step().
using StepObserver = std::function<void(const Batch&, double seconds)>;

// Runs all requests (offline: all present at t=0) to completion; returns generated tokens per
// request id. Throws llmi::Error if the scheduler's max_batch_seqs exceeds the runtime's KV slots,
// if its KV capacity exceeds the runtime's context, or if it stops making progress.
std::map<int, std::vector<int>> run_engine(llmi::llama::Runtime& rt, Scheduler& sched,
                                           const std::vector<EngineRequest>& reqs,
                                           EngineStats* stats = nullptr,
                                           const StepObserver& observe = nullptr);

}  // namespace sarathi
