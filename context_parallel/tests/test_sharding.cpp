// Load-balanced sharding (paper §3.5.1, §3.6): coverage, balance, cache locality, decode
// round robin, padding to equal messages, and shard/unshard round trips.
#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "llmi/catch.h"
#include "sharding.h"

using namespace llmi;
using namespace llmi::cp;

namespace {
// Every real token of every rank's list, with how many times it appears over all ranks.
std::map<std::pair<int, int>, int> census(const CpPlan& plan, bool kv) {
  std::map<std::pair<int, int>, int> n;
  for (const RankShard& sh : plan.shard)
    for (Token t : kv ? sh.kv : sh.q)
      if (!t.is_pad()) ++n[{t.seq, t.pos}];
  return n;
}
}  // namespace

TEST_CASE("balanced offsets: rank r holds chunks r and 2N-1-r") {
  // T = 16, N = 2: chunks of 4; rank 0 gets C0 and C3, rank 1 gets C1 and C2.
  CHECK(balanced_offsets(16, 2, 0) == std::vector<int>{0, 1, 2, 3, 12, 13, 14, 15});
  CHECK(balanced_offsets(16, 2, 1) == std::vector<int>{4, 5, 6, 7, 8, 9, 10, 11});
  // T = 5, N = 2: chunks of ceil(5/4) = 2, padded at the end.
  CHECK(balanced_offsets(5, 2, 0) == std::vector<int>{0, 1, -1, -1});
  CHECK(balanced_offsets(5, 2, 1) == std::vector<int>{2, 3, 4, -1});
  LLMI_REQUIRE_THROWS_WITH(balanced_offsets(8, 2, 2), "rank 2 is outside [0, 2)");
  LLMI_REQUIRE_THROWS_WITH(balanced_offsets(8, 0, 0), "at least one rank");
}

TEST_CASE("balanced offsets cover every token once, with equal slots and equal causal work") {
  for (int N = 1; N <= 4; ++N)
    for (int T : {1, 2, 7, 8, 16, 37, 64, 100}) {
      INFO("N=" << N << " T=" << T);
      std::vector<int> seen(T, 0);
      std::vector<long> work(N, 0);  // causal cost of a token at offset i is i + 1 keys
      for (int r = 0; r < N; ++r) {
        auto offs = balanced_offsets(T, N, r);
        CHECK(offs.size() == size_t(2 * ((T + 2 * N - 1) / (2 * N))));
        for (int o : offs)
          if (o >= 0) ++seen[o], work[r] += o + 1;
      }
      CHECK(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }));
      if (T % (2 * N) == 0)  // the paper's claim: identical causal FLOPs per rank
        CHECK(std::all_of(work.begin(), work.end(), [&](long w) { return w == work[0]; }));
    }
}

TEST_CASE("full prefill plan: equal buffers, every token once, KV stays with its query") {
  for (int N = 1; N <= 4; ++N) {
    const CpPlan plan = plan_prefill({{0, 37}, {0, 5}}, KvPlacement(N, 2));
    for (const RankShard& sh : plan.shard) {
      CHECK(int(sh.q.size()) == plan.q_len());
      CHECK(int(sh.kv.size()) == plan.kv_len());
      std::set<std::pair<int, int>> q, kv;
      for (Token t : sh.q) if (!t.is_pad()) q.insert({t.seq, t.pos});
      for (Token t : sh.kv) if (!t.is_pad()) kv.insert({t.seq, t.pos});
      CHECK(q == kv);  // no cache: a rank's KV is exactly its new tokens' KV
    }
    auto q = census(plan, false);
    CHECK(q.size() == 42u);
    for (auto& [tok, n] : q) CHECK(n == 1);
  }
}

TEST_CASE("partial prefill: only new tokens are sharded, cached KV does not move") {
  const int N = 3;
  KvPlacement cache(N, 1);
  for (int pos = 0; pos < 20; ++pos) cache.append(0, (pos * 7) % N);  // any earlier placement
  const CpPlan plan = plan_prefill({{20, 9}}, cache);
  for (int r = 0; r < N; ++r) {
    std::set<int> kv;
    for (Token t : plan.shard[r].kv) if (!t.is_pad()) kv.insert(t.pos);
    for (int pos : cache.positions_on(0, r)) CHECK(kv.count(pos));  // cache stays put
    for (Token t : plan.shard[r].q) {
      if (t.is_pad()) continue;
      CHECK(t.pos >= 20);  // queries are new tokens only
      CHECK(kv.count(t.pos));  // and their KV lands on their rank
    }
  }
  auto kv = census(plan, true);
  CHECK(kv.size() == 29u);
  for (auto& [tok, n] : kv) CHECK(n == 1);
  const KvPlacement after = placement_after_prefill(plan, cache);
  CHECK(after.length(0) == 29);
  for (int r = 0; r < N; ++r)
    for (Token t : plan.shard[r].q) if (!t.is_pad()) CHECK(after.owner(0, t.pos) == r);
  LLMI_REQUIRE_THROWS_WITH(plan_prefill({{21, 9}}, cache), "20 cached tokens placed, but P=21");
  LLMI_REQUIRE_THROWS_WITH(plan_prefill({{20, 9}, {0, 1}}, cache), "places 1 sequences but the batch has 2");
}

TEST_CASE("KV buffers pad each sequence to the same length on every rank (equal messages)") {
  const int N = 4;
  KvPlacement cache(N, 2);
  for (int pos = 0; pos < 10; ++pos) cache.append(0, 0);  // all of sequence 0 on rank 0
  for (int pos = 0; pos < 3; ++pos) cache.append(1, 3);
  const CpPlan plan = plan_prefill({{10, 4}, {3, 8}}, cache);
  // Sequence 0: rank 0 holds 10 cached + 1 new = 11, so L_0 = 11 slots everywhere.
  for (const RankShard& sh : plan.shard) {
    int seq0_slots = 0;
    for (int j = 0; j < 11; ++j) seq0_slots += sh.kv[j].seq == 0 || sh.kv[j].is_pad();
    CHECK(seq0_slots == 11);
    CHECK(sh.kv.size() == plan.shard[0].kv.size());
  }
}

TEST_CASE("decode: round robin with a shifting offset spreads KV evenly") {
  const int N = 3, B = 4;
  KvPlacement cache = KvPlacement::load_balanced({6, 6, 6, 6}, N);
  for (int step = 0; step < 2 * N; ++step) {
    const CpPlan plan = plan_decode(cache, step);
    for (int r = 0; r < N; ++r) {
      CHECK(plan.shard[r].q.size() == size_t((B + N - 1) / N));  // padded to ceil(B/N)
      for (Token t : plan.shard[r].q)
        if (!t.is_pad()) {
          CHECK(r == (t.seq + step) % N);
          CHECK(t.pos == 6 + step);
          CHECK(cache.owner(t.seq, t.pos) == r);  // its KV lives where it is computed
        }
    }
    for (const SeqSpec& s : plan.seqs) CHECK(s.fresh == 1);
  }
  // After 2N steps every sequence has exactly 2 decode tokens on each rank.
  for (int b = 0; b < B; ++b)
    for (int r = 0; r < N; ++r) {
      int n = 0;
      for (int pos : cache.positions_on(b, r)) n += pos >= 6;
      CHECK(n == 2);
    }
}

TEST_CASE("shard then unshard is the identity; shards of K and V cover each row once") {
  const std::vector<SeqSpec> seqs{{4, 9}, {0, 3}, {11, 1}};
  for (int N = 1; N <= 4; ++N) {
    KvPlacement cache = KvPlacement::load_balanced({4, 0, 11}, N);
    const CpPlan plan = plan_prefill(seqs, cache);
    const BatchRows rows(seqs);
    const RowOf q_row = [&](Token t) { return rows.q_row(t); };
    const RowOf kv_row = [&](Token t) { return rows.kv_row(t); };
    const size_t W = 3;  // elements per row
    std::vector<double> q(rows.q_rows() * W), kv(rows.kv_rows() * W);
    for (size_t i = 0; i < q.size(); ++i) q[i] = 1.0 + i;
    for (size_t i = 0; i < kv.size(); ++i) kv[i] = -1.0 - i;
    std::vector<double> q_back(q.size(), 0), kv_back(kv.size(), 0), kv_count(rows.kv_rows(), 0);
    for (int r = 0; r < N; ++r) {
      auto qs = gather_rows(plan.shard[r].q, q_row, q.data(), W);
      auto ks = gather_rows(plan.shard[r].kv, kv_row, kv.data(), W);
      for (size_t i = 0; i < plan.shard[r].q.size(); ++i)
        if (plan.shard[r].q[i].is_pad()) CHECK(qs[i * W] == 0.0);  // padding rows are zero
      scatter_rows(plan.shard[r].q, q_row, qs.data(), q_back.data(), W);
      scatter_rows(plan.shard[r].kv, kv_row, ks.data(), kv_back.data(), W);
      for (Token t : plan.shard[r].kv) if (!t.is_pad()) kv_count[kv_row(t)] += 1;
    }
    CHECK(q_back == q);
    CHECK(kv_back == kv);
    CHECK(std::all_of(kv_count.begin(), kv_count.end(), [](double c) { return c == 1; }));
  }
  const BatchRows rows(seqs);
  LLMI_REQUIRE_THROWS_WITH(rows.q_row(Token{0, 2}), "is not a new token");
  LLMI_REQUIRE_THROWS_WITH(rows.kv_row(Token{3, 0}), "not in the batch");
}

TEST_CASE("plan fingerprints tell plans apart") {
  const CpPlan a = plan_prefill({{0, 12}}, KvPlacement(2, 1));
  const CpPlan b = plan_prefill({{0, 12}}, KvPlacement(2, 1));
  const CpPlan c = plan_prefill({{0, 13}}, KvPlacement(2, 1));
  const CpPlan d = plan_prefill({{0, 12}}, KvPlacement(3, 1));
  CHECK(a.fingerprint() == b.fingerprint());
  CHECK(a.fingerprint() != c.fingerprint());
  CHECK(a.fingerprint() != d.fingerprint());
}
