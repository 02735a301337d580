// Shared scheduler mechanics: admission, KV reservation, preemption, progress (see scheduler.h).
#include "sarathi/scheduler.h"

#include <algorithm>

#include "llmi/check.h"

namespace sarathi {

Scheduler::Scheduler(std::string name, SchedulerConfig cfg)
    : cfg_(cfg), name_(std::move(name)), kv_(cfg.kv_blocks, cfg.block_size) {
  LLMI_REQUIRE(cfg.max_batch_seqs > 0 && cfg.token_budget > 0 && cfg.chunk_size > 0,
               name_ << ": max_batch_seqs, token_budget and chunk_size must be positive");
}

void Scheduler::add(const RequestSpec& spec) {
  LLMI_REQUIRE(spec.prompt_len > 0 && spec.output_len > 0,
               "request " << spec.id << ": prompt_len and output_len must be positive, got "
                          << spec.prompt_len << " and " << spec.output_len);
  LLMI_REQUIRE(!reqs_.count(spec.id), "request id " << spec.id << " added twice");
  // The most it ever caches is prompt + output - 1 tokens (the last token is never fed back).
  const int peak = spec.prompt_len + spec.output_len - 1;
  LLMI_REQUIRE(kv_.blocks_for(peak) <= kv_.num_blocks(),
               "request " << spec.id << " needs " << peak << " tokens of KV but the cache holds "
                          << kv_.capacity_tokens());
  RequestState s;
  s.spec = spec;
  reqs_.emplace(spec.id, s);
  waiting_.push_back(spec.id);
}

const RequestState& Scheduler::state(int id) const {
  auto it = reqs_.find(id);
  LLMI_REQUIRE(it != reqs_.end(), "unknown request id " << id);
  return it->second;
}

Batch Scheduler::schedule() {
  Batch b;
  b.serial = ++serial_;
  form(b);
  return b;
}

std::vector<int> Scheduler::prefilling() const {
  std::vector<int> out;
  for (int id : running_)
    if (!reqs_.at(id).decoding()) out.push_back(id);
  return out;
}

int Scheduler::admit_next() {
  if (waiting_.empty() || running_count() >= cfg_.max_batch_seqs) return -1;
  const int id = waiting_.front();
  RequestState& s = reqs_.at(id);
  // Reserve the whole known context now (vLLM allocates a prompt's blocks on admission), so
  // later chunks of this prefill never wait for memory.
  if (!kv_.can_reserve(id, s.known())) return -1;
  kv_.reserve(id, s.known());
  waiting_.pop_front();
  s.phase = Phase::Running;
  running_.push_back(id);
  return id;
}

bool Scheduler::preempt_one(Batch& b) {
  for (auto it = running_.rbegin(); it != running_.rend(); ++it) {
    const int id = *it;
    if (in_batch(b, id)) continue;
    RequestState& s = reqs_.at(id);
    kv_.release(id);
    s.processed = 0;  // recompute: prompt + generated tokens are prefilled again on resume
    s.preemptions++;
    s.phase = Phase::Waiting;
    running_.erase(std::next(it).base());
    waiting_.push_front(id);  // head of the queue: the oldest preempted request resumes first
    b.preempted.push_back(id);
    return true;
  }
  return false;
}

void Scheduler::add_decodes(Batch& b) {
  const std::vector<int> order = running_;  // preemption edits running_
  for (int id : order) {
    RequestState& s = reqs_.at(id);
    if (s.phase != Phase::Running || !s.decoding() || in_batch(b, id)) continue;
    const int need = s.processed + 1;
    // Preempt the newest running requests until this decode gets its slot (possibly itself).
    while (s.phase == Phase::Running && !kv_.can_reserve(id, need))
      if (!preempt_one(b)) break;
    if (s.phase != Phase::Running) continue;
    kv_.reserve(id, need);
    b.chunks.push_back({id, s.processed, 1, true, true});
    s.batch = b.serial;
    b.decode_tokens += 1;
  }
}

int Scheduler::add_prefill(Batch& b, int req, int max_tokens) {
  RequestState& s = reqs_.at(req);
  LLMI_REQUIRE(s.phase == Phase::Running && !s.decoding() && !in_batch(b, req),
               name_ << ": request " << req << " is not a running prefill outside the batch");
  const int n = std::min(s.pending(), max_tokens);
  if (n <= 0) return 0;
  kv_.reserve(req, s.processed + n);  // reserved on admission; this only checks
  b.chunks.push_back({req, s.processed, n, s.processed + n == s.known(), false});
  s.batch = b.serial;
  b.prefill_tokens += n;
  return n;
}

void Scheduler::add_whole_prompts(Batch& b) {
  while (!waiting_.empty()) {
    const int need = state(waiting_.front()).known();
    if (b.prefill_tokens > 0 && b.prefill_tokens + need > cfg_.token_budget) break;
    const int id = admit_next();
    if (id < 0) break;
    add_prefill(b, id, need);
  }
}

std::vector<int> Scheduler::complete(const Batch& b) {
  std::vector<int> emitted;
  for (const ScheduledChunk& c : b.chunks) {
    RequestState& s = reqs_.at(c.req);
    LLMI_REQUIRE(s.phase == Phase::Running && s.processed == c.start,
                 name_ << ": batch does not match request " << c.req << "'s state");
    s.processed += c.tokens;
    if (!c.emits) continue;
    s.generated++;
    emitted.push_back(c.req);
    if (s.done()) {
      s.phase = Phase::Finished;
      kv_.release(c.req);
      running_.erase(std::find(running_.begin(), running_.end(), c.req));
    }
  }
  return emitted;
}

}  // namespace sarathi
