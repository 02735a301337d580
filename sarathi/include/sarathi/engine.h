// Drives the Llama runtime (common/llama) with a scheduler: each batch becomes one
// Runtime::step() whose SeqChunks are the batch's prefill chunks and decodes (SARATHI's hybrid
// batch: the runtime fuses their linear layers into single GEMMs). Greedy decoding, so every
// scheduler must reproduce the tokens of unbatched greedy decoding.
//
// Requests arrive online through the shared serving loop (serving_loop.h): the virtual clock
// advances by the measured wall time of each Runtime::step(), a request is visible to the
// scheduler only once the clock has passed its arrival, and idle gaps are skipped (they cost no
// real time). Arrivals all at 0 give the offline run.
#pragma once
#include <map>
#include <vector>

#include "llmi/llama/runtime.h"
#include "sarathi/capacity.h"
#include "sarathi/serving_loop.h"
#include "sarathi/workload.h"

namespace sarathi {

struct EngineRequest {
  int id = 0;
  std::vector<int> prompt;
  int output_len = 0;
  double arrival_s = 0;  // on the engine's virtual clock
};

struct EngineResult {
  std::map<int, std::vector<int>> tokens;  // generated tokens per request id
  ServingResult serving;                   // TTFT, TBT, throughput on the virtual clock
};

// Serves all requests to completion. Throws llmi::Error if the scheduler's max_batch_seqs exceeds
// the runtime's KV slots, if a request does not fit the runtime's context, or if the scheduler
// stops making progress.
EngineResult run_engine(llmi::llama::Runtime& rt, Scheduler& sched,
                        const std::vector<EngineRequest>& reqs,
                        const StepObserver& observe = nullptr);

// The workload's requests (lengths, arrivals) with synthetic prompt token ids in [0, vocab): a
// step's time does not depend on which tokens it holds.
std::vector<EngineRequest> engine_requests(const std::vector<RequestSpec>& specs, int vocab);

// A capacity-search trial on a real runtime: make_workload(w) at the trial's QPS, served by the
// engine on `rt` (which must outlive the trial) with a fresh scheduler from `make`.
Trial engine_trial(llmi::llama::Runtime& rt, SchedulerFactory make, WorkloadConfig w);

}  // namespace sarathi
