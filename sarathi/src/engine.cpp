#include "sarathi/engine.h"

#include <algorithm>
#include <chrono>

#include "llmi/check.h"
#include "llmi/llama/sampling.h"

namespace sarathi {

using llmi::llama::Rows;
using llmi::llama::SeqChunk;

std::map<int, std::vector<int>> run_engine(llmi::llama::Runtime& rt, Scheduler& sched,
                                           const std::vector<EngineRequest>& reqs,
                                           EngineStats* stats, const StepObserver& observe) {
  LLMI_REQUIRE(sched.config().max_batch_seqs <= rt.max_seqs(),
               "engine: scheduler runs up to " << sched.config().max_batch_seqs
                                               << " sequences but the runtime has "
                                               << rt.max_seqs() << " KV slots");
  std::map<int, const EngineRequest*> by_id;
  std::map<int, std::vector<int>> out;
  for (const EngineRequest& r : reqs) {
    LLMI_REQUIRE(int(r.prompt.size()) + r.output_len - 1 <= rt.max_context(),
                 "engine: request " << r.id << " does not fit the runtime's context of "
                                    << rt.max_context());
    sched.add({r.id, 0.0, int(r.prompt.size()), r.output_len});
    by_id[r.id] = &r;
    out[r.id] = {};
  }
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

  EngineStats st;
  while (sched.has_work()) {
    const Batch b = sched.schedule();
    LLMI_REQUIRE(!b.empty(), "engine: " << sched.name() << " scheduled nothing with work left");
    for (int id : b.preempted) release(id);  // recompute preemption drops the cache
    st.preemptions += int(b.preempted.size());
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
    sched.complete(b);
    for (const ScheduledChunk& c : b.chunks)
      if (sched.state(c.req).phase == Phase::Finished) release(c.req);
    st.steps++;
    st.max_batch_tokens = std::max(st.max_batch_tokens, b.num_tokens());
    st.max_batch_seqs = std::max(st.max_batch_seqs, int(b.chunks.size()));
    if (observe) observe(b, secs);
  }
  if (stats) *stats = st;
  return out;
}

}  // namespace sarathi
