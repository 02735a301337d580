#include "sarathi/engine.h"

#include <chrono>

#include "llmi/check.h"
#include "llmi/llama/sampling.h"

namespace sarathi {

using llmi::llama::Rows;
using llmi::llama::SeqChunk;

EngineResult run_engine(llmi::llama::Runtime& rt, Scheduler& sched,
                        const std::vector<EngineRequest>& reqs, const StepObserver& observe) {
  LLMI_REQUIRE(sched.config().max_batch_seqs <= rt.max_seqs(),
               "engine: scheduler runs up to " << sched.config().max_batch_seqs
                                               << " sequences but the runtime has "
                                               << rt.max_seqs() << " KV slots");
  std::map<int, const EngineRequest*> by_id;
  std::vector<RequestSpec> specs;
  EngineResult res;
  for (const EngineRequest& r : reqs) {
    LLMI_REQUIRE(int(r.prompt.size()) + r.output_len - 1 <= rt.max_context(),
                 "engine: request " << r.id << " does not fit the runtime's context of "
                                    << rt.max_context());
    specs.push_back({r.id, r.arrival_s, int(r.prompt.size()), r.output_len});
    by_id[r.id] = &r;
    res.tokens[r.id] = {};
  }
  auto& out = res.tokens;
  // Runtime KV slot of each running request; free slots are reused.
  std::map<int, int> slot;
  std::vector<int> free_slots;
  for (int s = rt.max_seqs() - 1; s >= 0; --s) free_slots.push_back(s), rt.reset(s);
  auto release = [&](int id) {
    auto it = slot.find(id);
    if (it == slot.end()) return;
    rt.reset(it->second);
    free_slots.push_back(it->second);
    slot.erase(it);
  };

  // One batch = one Runtime::step; its duration is the step's wall time.
  auto run = [&](const Batch& b) {
    for (int id : b.preempted) release(id);  // recompute preemption drops the cache
    std::vector<SeqChunk> step;
    for (const ScheduledChunk& c : b.chunks) {
      if (!slot.count(c.req)) {
        LLMI_REQUIRE(c.start == 0 && !free_slots.empty(), "engine: no KV slot for " << c.req);
        slot[c.req] = free_slots.back();
        free_slots.pop_back();
      }
      const int s = slot[c.req];
      LLMI_REQUIRE(rt.length(s) == c.start, "engine: cache of request " << c.req << " holds "
                                                << rt.length(s) << " rows, batch starts at "
                                                << c.start);
      // The known tokens are the prompt followed by what was generated so far.
      const EngineRequest& r = *by_id.at(c.req);
      std::vector<int> known = r.prompt;
      known.insert(known.end(), out[c.req].begin(), out[c.req].end());
      SeqChunk ch;
      ch.seq_id = s;
      ch.tokens.assign(known.begin() + c.start, known.begin() + c.start + c.tokens);
      ch.rows = c.emits ? Rows::Last : Rows::None;
      step.push_back(std::move(ch));
    }
    const auto t0 = std::chrono::steady_clock::now();
    const llmi::llama::StepOutput o = rt.step(step);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (size_t i = 0; i < b.chunks.size(); ++i)
      if (b.chunks[i].emits)
        out[b.chunks[i].req].push_back(
            llmi::llama::argmax(o.row_logits(int(i), 0), o.vocab));
    return secs;
  };
  auto completed = [&](const Batch& b, double start_s, double secs) {
    for (const ScheduledChunk& c : b.chunks)
      if (sched.state(c.req).phase == Phase::Finished) release(c.req);
    if (observe) observe(b, start_s, secs);
  };
  res.serving = serve(sched, specs, run, completed);
  return res;
}

std::vector<EngineRequest> engine_requests(const std::vector<RequestSpec>& specs, int vocab) {
  LLMI_REQUIRE(vocab > 0, "engine_requests: vocab must be positive");
  std::vector<EngineRequest> out;
  for (const RequestSpec& r : specs) {
    EngineRequest e{r.id, std::vector<int>(size_t(r.prompt_len)), r.output_len, r.arrival_s};
    for (int i = 0; i < r.prompt_len; ++i) e.prompt[size_t(i)] = synthetic_token(r.id, i, vocab);
    out.push_back(std::move(e));
  }
  return out;
}

Trial engine_trial(llmi::llama::Runtime& rt, SchedulerFactory make, WorkloadConfig w) {
  return [&rt, make = std::move(make), w](double qps) mutable {
    w.qps = qps;
    auto s = make();
    return run_engine(rt, *s, engine_requests(make_workload(w), rt.config().vocab_size)).serving;
  };
}

}  // namespace sarathi
