// Scheduler properties on random workloads (every policy): the token budget / chunk limits, KV
// capacity never exceeded, FCFS admission and completion (no starvation), recompute preemption;
// plus the exact batch order of Sarathi-Serve's Algorithm 3 and of a preemption.
#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "llmi/catch.h"
#include "sarathi/scheduler.h"

using namespace sarathi;

namespace {

// Checks one batch against the policy's limits and the KV invariants; returns its prefill chunks.
void check_batch(const Scheduler& s, const Batch& b) {
  const SchedulerConfig& c = s.config();
  std::set<int> seen;
  int prefill_chunks = 0;
  for (const ScheduledChunk& ch : b.chunks) {
    INFO("request " << ch.req);
    REQUIRE(seen.insert(ch.req).second);  // at most once per batch
    const RequestState& st = s.state(ch.req);
    REQUIRE(st.phase == Phase::Running);
    REQUIRE(ch.start == st.processed);
    REQUIRE(ch.tokens >= 1);
    REQUIRE(ch.start + ch.tokens <= st.known());
    REQUIRE(ch.emits == (ch.start + ch.tokens == st.known()));
    REQUIRE(ch.decode == st.decoding());
    // KV capacity: the request holds slots for everything it will have cached after the step.
    REQUIRE(s.kv().held_tokens(ch.req) >= ch.start + ch.tokens);
    prefill_chunks += !ch.decode;
  }
  REQUIRE(s.kv().used_blocks() <= c.kv_blocks);
  REQUIRE(int(s.running().size()) <= c.max_batch_seqs);
  REQUIRE(int(b.chunks.size()) <= c.max_batch_seqs);
  for (int id : b.preempted) {
    const RequestState& st = s.state(id);
    REQUIRE(st.preemptions >= 1);
    // Either waiting with no cache, or re-admitted and restarting from token 0 in this batch.
    REQUIRE((st.phase == Phase::Waiting ? s.kv().held(id) == 0 : st.processed == 0));
  }
  const std::string& n = s.name();
  if (n == "sarathi-serve") REQUIRE(b.num_tokens() <= c.token_budget);
  if (n == "sarathi") {
    REQUIRE(prefill_chunks <= 1);
    REQUIRE(b.prefill_tokens <= c.chunk_size);
  }
  if (n == "vllm") REQUIRE((b.prefill_tokens == 0 || b.decode_tokens == 0));
  if (n == "vllm" || n == "orca")  // whole prompts; only a lone prompt may exceed the limit
    REQUIRE((b.prefill_tokens <= c.token_budget || prefill_chunks == 1));
}

struct RandomCase {
  SchedulerConfig cfg;
  std::vector<RequestSpec> reqs;
};

RandomCase random_case(std::mt19937& rng) {
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  RandomCase rc;
  rc.cfg.block_size = std::vector<int>{1, 4, 16}[size_t(uni(0, 2))];
  rc.cfg.max_batch_seqs = uni(1, 8);
  rc.cfg.token_budget = rc.cfg.max_batch_seqs + uni(0, 64);
  rc.cfg.chunk_size = uni(1, 48);
  const int n = uni(1, 24);
  int peak_max = 0;
  for (int i = 0; i < n; ++i) {
    RequestSpec r{i, 0.0, uni(1, 100), uni(1, 30)};
    peak_max = std::max(peak_max, r.prompt_len + r.output_len - 1);
    rc.reqs.push_back(r);
  }
  // Between one largest request and a few: KV runs out often, forcing preemption.
  const int per_req = (peak_max + rc.cfg.block_size - 1) / rc.cfg.block_size;
  rc.cfg.kv_blocks = per_req * uni(1, 3) + uni(0, per_req);
  return rc;
}

}  // namespace

TEST_CASE("every policy: budget, KV capacity, FCFS, completion on random workloads",
          "[scheduler][random]") {
  std::mt19937 rng(2024);
  int preemptions = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const RandomCase rc = random_case(rng);
    for (const std::string& name : scheduler_names()) {
      INFO("trial " << trial << " scheduler " << name);
      auto s = make_scheduler(name, rc.cfg);
      // Requests arrive over time: a few up front, the rest one per iteration.
      size_t next = 0;
      std::vector<int> first_admitted;
      std::map<int, int> emitted;
      long total_tokens = 0;
      for (const RequestSpec& r : rc.reqs) total_tokens += r.prompt_len + r.output_len;
      int iters = 0;
      while (next < rc.reqs.size() || s->has_work()) {
        if (next < rc.reqs.size()) s->add(rc.reqs[next++]);
        const Batch b = s->schedule();
        REQUIRE(!b.empty());  // progress whenever there is work
        check_batch(*s, b);
        for (const ScheduledChunk& ch : b.chunks)
          if (std::find(first_admitted.begin(), first_admitted.end(), ch.req) ==
              first_admitted.end())
            first_admitted.push_back(ch.req);
        preemptions += int(b.preempted.size());
        for (int id : s->complete(b)) emitted[id]++;
        // No livelock: preemption repeats work, but boundedly.
        REQUIRE(++iters <= 20 * total_tokens);
      }
      // Everyone finished with exactly output_len tokens, and first service was FCFS.
      for (const RequestSpec& r : rc.reqs) {
        CHECK(s->state(r.id).phase == Phase::Finished);
        CHECK(emitted[r.id] == r.output_len);
      }
      std::vector<int> fcfs(first_admitted.size());
      for (size_t i = 0; i < fcfs.size(); ++i) fcfs[i] = int(i);
      CHECK(first_admitted == fcfs);
      CHECK(s->kv().used_blocks() == 0);
    }
  }
  CHECK(preemptions > 100);  // the random KV sizes really exercise preemption
}

TEST_CASE("sarathi-serve follows Algorithm 3: decodes, then partial prefills, then new requests",
          "[scheduler]") {
  SchedulerConfig c;
  c.token_budget = 10, c.max_batch_seqs = 4, c.kv_blocks = 64, c.block_size = 4;
  SarathiServe s(c);
  s.add({0, 0, 6, 3});
  s.add({1, 0, 20, 2});
  s.add({2, 0, 5, 2});
  Batch b = s.schedule();  // A's whole prompt, then B's first 4 tokens
  REQUIRE(b.chunks.size() == 2);
  CHECK((b.chunks[0].req == 0 && b.chunks[0].tokens == 6 && b.chunks[0].emits));
  CHECK((b.chunks[1].req == 1 && b.chunks[1].tokens == 4 && !b.chunks[1].emits));
  CHECK(s.complete(b) == std::vector<int>{0});
  b = s.schedule();  // A decodes, B continues with the 9 tokens left in the budget
  REQUIRE(b.chunks.size() == 2);
  CHECK((b.chunks[0].req == 0 && b.chunks[0].decode));
  CHECK((b.chunks[1].req == 1 && b.chunks[1].start == 4 && b.chunks[1].tokens == 9));
  s.complete(b);
  b = s.schedule();  // A decodes, B's last 7 tokens, C starts with the remaining 2
  REQUIRE(b.chunks.size() == 3);
  CHECK((b.chunks[1].req == 1 && b.chunks[1].tokens == 7 && b.chunks[1].emits));
  CHECK((b.chunks[2].req == 2 && b.chunks[2].tokens == 2));
  CHECK(b.num_tokens() == 10);
  CHECK(s.complete(b) == std::vector<int>{0, 1});
  CHECK(s.state(0).phase == Phase::Finished);
}

TEST_CASE("a decode without a KV slot preempts the newest request, which resumes first",
          "[scheduler][preemption]") {
  SchedulerConfig c;
  c.kv_blocks = 4, c.block_size = 4, c.max_batch_seqs = 4, c.token_budget = 64;
  SarathiServe s(c);
  s.add({0, 0, 6, 8});  // peak 13 tokens: fits the 16-token cache alone, not beside another
  s.add({1, 0, 6, 8});
  s.add({2, 0, 3, 2});
  s.complete(s.schedule());  // both prompts admitted (2 blocks each); request 2 waits
  CHECK(s.kv().free_blocks() == 0);
  CHECK(s.waiting().front() == 2);
  // Request 0 needs its 3rd block at 8 cached tokens: request 1 (newest) is preempted.
  Batch b;
  for (int i = 0; i < 4 && b.preempted.empty(); ++i) {
    b = s.schedule();
    if (b.preempted.empty()) s.complete(b);
  }
  REQUIRE(b.preempted == std::vector<int>{1});
  CHECK(s.state(1).phase == Phase::Waiting);
  CHECK(s.state(1).processed == 0);
  CHECK(s.state(1).generated > 0);  // its tokens survive; only the cache is recomputed
  CHECK(s.waiting().front() == 1);  // ahead of request 2, which arrived later
  CHECK(s.kv().held(1) == 0);
  s.complete(b);
  while (s.has_work()) s.complete(s.schedule());
  for (int id : {0, 1, 2}) CHECK(s.state(id).phase == Phase::Finished);
}

TEST_CASE("scheduler rejects bad configurations and requests", "[scheduler][errors]") {
  SchedulerConfig c;
  c.kv_blocks = 2, c.block_size = 4;
  LLMI_REQUIRE_THROWS_WITH(make_scheduler("fifo", c), "unknown scheduler 'fifo'");
  auto s = make_scheduler("sarathi", c);
  LLMI_REQUIRE_THROWS_WITH(s->add({0, 0, 8, 2}), "needs 9 tokens of KV but the cache holds 8");
  LLMI_REQUIRE_THROWS_WITH(s->add({1, 0, 0, 2}), "must be positive");
  s->add({2, 0, 4, 2});
  LLMI_REQUIRE_THROWS_WITH(s->add({2, 0, 4, 2}), "added twice");
  SchedulerConfig tight = c;
  tight.token_budget = 8, tight.max_batch_seqs = 16;
  LLMI_REQUIRE_THROWS_WITH(SarathiServe{tight}, "must be at least max_batch_seqs");
  tight.kv_blocks = 0;
  LLMI_REQUIRE_THROWS_WITH(make_scheduler("vllm", tight), "positive num_blocks");
  KvManager kv(2, 4);
  kv.reserve(0, 8);
  LLMI_REQUIRE_THROWS_WITH(kv.reserve(1, 1), "out of KV blocks");
}
