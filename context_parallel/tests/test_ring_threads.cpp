// pass-KV, pass-Q and decode over the threads backend, N = 1..4 ranks in one process, against
// single-rank fp64 attention. The MPI test runs the same scenarios with one process per rank.
#include <string>

#include "llmi/catch.h"
#include "ring_harness.h"
#include "thread_communicator.h"

using namespace llmi;
using namespace llmi::cp;
using namespace llmi::cp::test;

namespace {
constexpr double kBoundF64 = 1e-12;  // fp64 everywhere: only summation order differs
constexpr double kBoundF32 = 2e-6;   // fp32 inputs, fp32 partials and fp32 merge

// Runs fn on N threads; the verdict is identical on every rank (all gather everything).
template <class Fn>
Verdict on_ranks(int N, Fn fn) {
  std::vector<Verdict> v(N);
  run_ranks(N, [&](Communicator& comm) { v[comm.rank()] = fn(comm); });
  for (int r = 1; r < N; ++r) REQUIRE(v[r].str() == v[0].str());
  return v[0];
}
}  // namespace

TEST_CASE("ring prefill equals single-rank attention (threads, N = 1..4, fp64)") {
  for (int N = 1; N <= 4; ++N)
    for (Variant variant : {Variant::PassKV, Variant::PassQ})
      for (const Scenario& sc : prefill_scenarios()) {
        INFO("N=" << N << " " << variant_name(variant) << " " << sc.name);
        Verdict v = on_ranks(N, [&](Communicator& c) { return run_prefill(c, CpuF64{}, variant, sc); });
        INFO(v.str());
        CHECK(v.ok(kBoundF64));
      }
}

TEST_CASE("ring prefill in fp32 (the GPU merge precision) stays within fp32 error") {
  for (int N : {2, 3})
    for (Variant variant : {Variant::PassKV, Variant::PassQ})
      for (const Scenario& sc : prefill_scenarios()) {
        INFO("N=" << N << " " << variant_name(variant) << " " << sc.name);
        Verdict v = on_ranks(N, [&](Communicator& c) { return run_prefill(c, CpuF32{}, variant, sc); });
        INFO(v.str());
        CHECK(v.ok(kBoundF32));
        CHECK(!v.ok(kBoundF64));  // it really ran in fp32: the bound is not vacuous
      }
}

TEST_CASE("ring decode (Alg. 4) with round-robin KV equals single-rank attention") {
  const Scenario sc = decode_scenario();
  for (int N = 1; N <= 4; ++N) {
    INFO("N=" << N);
    Verdict v = on_ranks(N, [&](Communicator& c) { return run_decode(c, CpuF64{}, Variant::PassQ, sc, 5, true); });
    INFO(v.str());
    CHECK(v.ok(kBoundF64));
    // pass-KV over the same decode plan is also exact (the paper picks pass-Q for T = 1, Eq. 1).
    Verdict w = on_ranks(N, [&](Communicator& c) { return run_decode(c, CpuF64{}, Variant::PassKV, sc, 3, false); });
    INFO(w.str());
    CHECK(w.ok(kBoundF64));
  }
}

TEST_CASE("a plan for another rank count, or ranks holding different plans, is a clear error") {
  const CpPlan three = plan_prefill({{0, 12}}, KvPlacement(3, 1));
  const AttnShape sh{2, 1, 4, 0.5, true};
  LLMI_REQUIRE_THROWS_WITH(run_ranks(2, [&](Communicator& c) {
                             CpuEngine<double, double> eng(sh);
                             RingWorkspace<CpuEngine<double, double>> ws;
                             std::vector<double> q(size_t(three.q_len()) * 8), kv(size_t(three.kv_len()) * 8), out(q.size()), lse(q.size());
                             ring_pass_kv(c, eng, three, q.data(), kv.data(), out.data(), lse.data(), ws);
                           }),
                           "plan is for 3 ranks but the communicator has 2");
  LLMI_REQUIRE_THROWS_WITH(run_ranks(2, [&](Communicator& c) {
                             // rank 1 was told a different prompt length: a deadlock in the making
                             const CpPlan p = plan_prefill({{0, c.rank() == 0 ? 12 : 14}}, KvPlacement(2, 1));
                             check_plan(c, p);
                           }),
                           "hold different sharding plans");
}

TEST_CASE("threads communicator: a failing rank stops the others instead of hanging") {
  LLMI_REQUIRE_THROWS_WITH(run_ranks(3, [&](Communicator& c) {
                             if (c.rank() == 1) throw Error("rank 1 broke");
                             int x = 0;
                             c.start_exchange(&x, &x, sizeof x, (c.rank() + 1) % 3, (c.rank() + 2) % 3);
                             c.wait_exchange();
                           }),
                           "rank 1 broke");
  LLMI_REQUIRE_THROWS_WITH(run_ranks(2, [&](Communicator& c) {
                             int x = 0, y = 0;
                             if (c.rank() == 0) c.start_exchange(&x, &y, sizeof x, 1, 1), c.wait_exchange();
                           }, 0.2),
                           "waited");
}

namespace {
// Wraps a communicator and records every ring step (bytes, peers) and all-to-all. Records only:
// Catch2 assertions are not thread-safe, so the checks run after the threads join.
class CountingCommunicator final : public Communicator {
 public:
  explicit CountingCommunicator(Communicator& inner) : inner_(inner) {}
  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  std::string backend() const override { return "counting " + inner_.backend(); }
  void start_exchange(const void* s, void* r, size_t bytes, int to, int from) override {
    exchanges.push_back(bytes);
    ring_peers &= to == (rank() + 1) % size() && from == (rank() + size() - 1) % size();
    inner_.start_exchange(s, r, bytes, to, from);
  }
  void wait_exchange() override { inner_.wait_exchange(); }
  void all_to_all(const void* s, void* r, size_t block) override {
    all_to_all_blocks.push_back(block);
    inner_.all_to_all(s, r, block);
  }
  void host_all_gather(const void* s, void* r, size_t bytes) override { inner_.host_all_gather(s, r, bytes); }
  std::vector<size_t> exchanges, all_to_all_blocks;
  bool ring_peers = true;  // every step sent to rank + 1 and received from rank - 1

 private:
  Communicator& inner_;
};
}  // namespace

TEST_CASE("message sizes: pass-KV moves un-expanded GQA KV, pass-Q moves Q and one all-to-all") {
  const int N = 3, Hq = 8, Hkv = 2, D = 4;
  const CpPlan plan = plan_prefill({{10, 20}}, KvPlacement::load_balanced({10}, N));
  const AttnShape sh{Hq, Hkv, D, 0.5, true};
  for (Variant v : {Variant::PassKV, Variant::PassQ}) {
    std::vector<std::vector<size_t>> steps(N), blocks(N);
    std::vector<char> ring(N, 0);
    run_ranks(N, [&](Communicator& inner) {
      CountingCommunicator comm(inner);
      CpuEngine<float, float> eng(sh);
      RingWorkspace<CpuEngine<float, float>> ws;
      std::vector<float> q(size_t(plan.q_len()) * Hq * D, 0.5f), kv(2 * size_t(plan.kv_len()) * Hkv * D, 0.25f);
      std::vector<float> out(q.size()), lse(size_t(plan.q_len()) * Hq);
      ring_attention(v, comm, eng, plan, q.data(), kv.data(), out.data(), lse.data(), ws);
      steps[comm.rank()] = comm.exchanges;
      blocks[comm.rank()] = comm.all_to_all_blocks;
      ring[comm.rank()] = comm.ring_peers;
    });
    const size_t kv_msg = 2 * size_t(plan.kv_len()) * Hkv * D * sizeof(float);  // Hkv, never Hq
    const size_t q_msg = size_t(plan.q_len()) * Hq * D * sizeof(float);
    const size_t a2a_block = size_t(plan.q_len()) * Hq * (D + 1) * sizeof(float);  // out + lse
    for (int r = 0; r < N; ++r) {
      INFO(variant_name(v) << " rank " << r);
      CHECK(ring[r]);
      CHECK(steps[r] == std::vector<size_t>(N - 1, v == Variant::PassKV ? kv_msg : q_msg));  // N-1 transfers
      CHECK(blocks[r] == (v == Variant::PassKV ? std::vector<size_t>{} : std::vector<size_t>{a2a_block}));
    }
  }
}
