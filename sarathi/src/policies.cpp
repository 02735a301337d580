// The four batching policies: each is only the order in which form() fills a batch.
#include "llmi/check.h"
#include "sarathi/scheduler.h"

namespace sarathi {

// vLLM (Sarathi-Serve §3.2, "prefill-prioritizing"): admit whole prompts while they fit the
// prefill token limit; a batch with any prefill carries no decodes, so decodes stall.
void PrefillPrioritizing::form(Batch& b) {
  add_whole_prompts(b);
  if (b.prefill_tokens == 0) add_decodes(b);
}

// Orca: iteration-level batching with hybrid batches, but whole prompts: every decode of the
// iteration waits for the longest prompt admitted with it (the generation stall of §3.3).
void Orca::form(Batch& b) {
  add_decodes(b);
  add_whole_prompts(b);
}

// SARATHI §4.2-4.3: a decode-maximal batch is every running decode plus one prefill chunk of at
// most chunk_size tokens, taken from the oldest unfinished prefill (or a newly admitted one).
void Sarathi::form(Batch& b) {
  add_decodes(b);
  const std::vector<int> partial = prefilling();
  const int id = partial.empty() ? admit_next() : partial.front();
  if (id >= 0) add_prefill(b, id, cfg_.chunk_size);
}

SarathiServe::SarathiServe(SchedulerConfig c) : Scheduler("sarathi-serve", c) {
  // Every running request may decode in one batch: the budget must hold them all, or prefills
  // could never progress.
  LLMI_REQUIRE(c.token_budget >= c.max_batch_seqs,
               "sarathi-serve: token_budget (" << c.token_budget << ") must be at least "
                                               << "max_batch_seqs (" << c.max_batch_seqs << ")");
}

// Sarathi-Serve Algorithm 3: decodes first (lines 6-8), then partial prefills (9-12), then new
// requests (13-20), each prefill getting min(pending, budget left) tokens.
void SarathiServe::form(Batch& b) {
  add_decodes(b);
  int left = cfg_.token_budget - b.decode_tokens;
  for (int id : prefilling()) {
    if (left <= 0) break;
    left -= add_prefill(b, id, left);
  }
  while (left > 0) {
    const int id = admit_next();
    if (id < 0) break;
    left -= add_prefill(b, id, left);
  }
}

std::vector<std::string> scheduler_names() { return {"vllm", "orca", "sarathi", "sarathi-serve"}; }

std::unique_ptr<Scheduler> make_scheduler(const std::string& name, const SchedulerConfig& c) {
  if (name == "vllm") return std::make_unique<PrefillPrioritizing>(c);
  if (name == "orca") return std::make_unique<Orca>(c);
  if (name == "sarathi") return std::make_unique<Sarathi>(c);
  if (name == "sarathi-serve") return std::make_unique<SarathiServe>(c);
  throw llmi::Error("unknown scheduler '" + name + "' (vllm, orca, sarathi, sarathi-serve)");
}

}  // namespace sarathi
