// One interface, four batching policies (Sarathi-Serve §2-4; microsoft/sarathi-serve
// sarathi/core/scheduler/{vllm,orca,sarathi}_scheduler.py):
//
//   PrefillPrioritizing  vLLM: whole prompts of new requests as soon as they fit, in
//                        prefill-only batches; otherwise a decode-only batch (decodes stall).
//   Orca                 iteration-level hybrid batches: all decodes + whole prompts of new
//                        requests (a long prompt stalls every decode of that iteration).
//   Sarathi              SARATHI (2308.16369 §4): decode-maximal batches, one prefill chunk of
//                        at most chunk_size tokens piggybacking all running decodes.
//   SarathiServe         stall-free batching (2403.02310 Alg. 3): under a token budget, every
//                        running decode first, then chunks of partial prefills, then new requests.
//
// Shared mechanics (Scheduler): FCFS admission, KV reserved for a request's whole known context
// on admission (as vLLM does for prompts), one more slot per decode, and recompute preemption of
// the most recently admitted running request when a decode cannot get a KV block; the victim
// goes back to the head of the waiting queue so it is never starved.
#pragma once
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "sarathi/kv_manager.h"
#include "sarathi/request.h"

namespace sarathi {

struct SchedulerConfig {
  int max_batch_seqs = 128;  // running requests at once (vLLM 128, Orca 16 in Sarathi-Serve)
  int token_budget = 512;    // SarathiServe: tokens per batch; PrefillPrioritizing/Orca: prefill
                             // tokens per batch (a longer single prompt is still admitted alone)
  int chunk_size = 512;      // Sarathi: prefill tokens per batch
  int kv_blocks = 1024;
  int block_size = 16;
};

struct ScheduledChunk {
  int req = 0;
  int start = 0;     // first token index fed (== processed before the step)
  int tokens = 0;    // tokens fed
  bool emits = false;  // this step completes the known context: one output token comes out
  bool decode = false;
};

struct Batch {
  std::vector<ScheduledChunk> chunks;
  std::vector<int> preempted;  // requests whose caches were dropped before this batch
  int prefill_tokens = 0, decode_tokens = 0;
  long serial = 0;               // which schedule() call made it
  int num_tokens() const { return prefill_tokens + decode_tokens; }
  bool empty() const { return chunks.empty(); }
};

class Scheduler {
 public:
  Scheduler(std::string name, SchedulerConfig cfg);
  virtual ~Scheduler() = default;
  const std::string& name() const { return name_; }
  const SchedulerConfig& config() const { return cfg_; }

  // Queues a request (FCFS). Throws llmi::Error for a bad spec, a duplicate id, or a request
  // whose prompt + output can never fit the KV cache.
  void add(const RequestSpec& spec);
  // Forms the next batch; empty when nothing can run. Reserves the KV it needs.
  Batch schedule();
  // Applies a finished batch: advances progress, emits tokens, frees finished requests' KV.
  // Returns the ids that emitted a token, in batch order.
  std::vector<int> complete(const Batch& b);

  bool has_work() const { return !waiting_.empty() || !running_.empty(); }
  const RequestState& state(int id) const;
  const std::vector<int>& running() const { return running_; }
  const std::deque<int>& waiting() const { return waiting_; }
  const KvManager& kv() const { return kv_; }

 protected:
  virtual void form(Batch& b) = 0;

  // Building blocks for form(): each checks KV and records the chunk in b.
  // Adds a 1-token decode for every running decoding request (preempting if KV runs out).
  void add_decodes(Batch& b);
  // Feeds up to max_tokens of req's pending prefill; returns tokens added.
  int add_prefill(Batch& b, int req, int max_tokens);
  // Admits the head of the waiting queue if a batch slot and KV for its known context exist;
  // returns its id or -1.
  int admit_next();
  // Admits waiting requests with their whole prompts while the batch's prefill tokens stay
  // within token_budget (a first prompt is taken whatever its length): vLLM's and Orca's
  // prefill admission.
  void add_whole_prompts(Batch& b);
  // Running requests still in (re)prefill, in admission order.
  std::vector<int> prefilling() const;
  int running_count() const { return int(running_.size()); }
  bool in_batch(const Batch& b, int req) const { return state(req).batch == b.serial; }

  SchedulerConfig cfg_;

 private:
  // Preempts the most recently admitted running request not in b; false if none.
  bool preempt_one(Batch& b);

  std::string name_;
  KvManager kv_;
  std::unordered_map<int, RequestState> reqs_;
  std::deque<int> waiting_;
  std::vector<int> running_;  // admission order
  long serial_ = 0;
};

class PrefillPrioritizing : public Scheduler {
 public:
  explicit PrefillPrioritizing(SchedulerConfig c) : Scheduler("vllm", c) {}
 protected:
  void form(Batch& b) override;
};

class Orca : public Scheduler {
 public:
  explicit Orca(SchedulerConfig c) : Scheduler("orca", c) {}
 protected:
  void form(Batch& b) override;
};

class Sarathi : public Scheduler {
 public:
  explicit Sarathi(SchedulerConfig c) : Scheduler("sarathi", c) {}
 protected:
  void form(Batch& b) override;
};

class SarathiServe : public Scheduler {
 public:
  explicit SarathiServe(SchedulerConfig c);
 protected:
  void form(Batch& b) override;
};

// "vllm", "orca", "sarathi", "sarathi-serve"; throws for anything else.
std::unique_ptr<Scheduler> make_scheduler(const std::string& name, const SchedulerConfig& c);
std::vector<std::string> scheduler_names();
// Makes a fresh scheduler (a serving trial, a pipeline group): schedulers keep request state.
using SchedulerFactory = std::function<std::unique_ptr<Scheduler>()>;

}  // namespace sarathi
