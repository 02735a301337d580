// Algorithm 5 (pass-KV or pass-Q), its cost model, the refit, and the startup rate probe.
#include <cmath>
#include <vector>

#include "cpu_engine.h"
#include "heuristic.h"
#include "llmi/catch.h"
#include "rate_probe.h"
#include "thread_communicator.h"

using namespace llmi;
using namespace llmi::cp;

namespace {
// The paper's Table 4 setup, per GPU: CP4, 16 query heads and 1 KV head per GPU, head dim 128,
// bf16, P + T = 128000. C = 800 TF/s (the paper's power-limited H100, App. A) and
// BW = 26 GB/s, the rate implied by Table 5 (16.4 MB per 627 us, research notes §2.7).
RingWorkload table4(double miss) {
  RingWorkload w;
  w.T = 128000 * miss;
  w.P = 128000 - w.T;
  w.ranks = 4;
  w.q_heads = 16;
  w.kv_heads = 1;
  w.head_dim = 128;
  w.elem_bytes = 2;
  return w;
}
const MeasuredRates kTable5Rates{800e12, 26e9};
}  // namespace

TEST_CASE("Algorithm 5 with the paper's achieved rates picks Table 4's faster variant") {
  // miss rate, pass-KV ms, pass-Q ms (Table 4). 5% is a tie (<1%), left out.
  struct Row { double miss, kv_ms, q_ms; };
  for (Row r : {Row{0.01, 1023, 899}, Row{0.025, 1110, 1046}, Row{0.0325, 1299, 1280},
                Row{0.10, 2081, 2205}, Row{0.50, 6845, 7368}, Row{1.0, 11462, 12361}}) {
    INFO("miss rate " << r.miss);
    const Choice c = choose_variant(table4(r.miss), kTable5Rates);
    INFO(c.why());
    CHECK(c.variant == (r.kv_ms < r.q_ms ? Variant::PassKV : Variant::PassQ));
  }
}

TEST_CASE("Algorithm 5: the closed forms of Eq. 2 and Eq. 5") {
  const Choice c = choose_variant(table4(0.025), kTable5Rates);
  // Eq. 2: N*C*NKV*e / (2*NH*BW) = 4 * 800e12 * 1 * 2 / (2 * 16 * 26e9)
  CHECK(c.kv_hidden_min_T == test::Approx(4 * 800e12 * 2 / (32 * 26e9)));
  // Eq. 5: 2*NKV/NH - 4*T*BW / (N*C*e) with T = 3200
  CHECK(c.miss_threshold == test::Approx(2.0 / 16 - 4 * 3200 * 26e9 / (4 * 800e12 * 2)));
  CHECK(c.miss_rate == test::Approx(0.025));
  // Full prefill with GQA (2*NKV/NH < 1) is always pass-KV, whatever the rates.
  RingWorkload full = table4(1.0);
  full.T = 64;
  CHECK(choose_variant(full, MeasuredRates{1e15, 1e6}).variant == Variant::PassKV);
  // MHA (NKV = NH): KV messages are twice Q's, pass-Q for a short prefill on a slow link.
  RingWorkload mha = table4(0.01);
  mha.kv_heads = 16;
  CHECK(choose_variant(mha, MeasuredRates{800e12, 1e9}).variant == Variant::PassQ);
}

TEST_CASE("Algorithm 5: a faster link only ever moves the choice towards pass-KV") {
  for (double miss : {0.005, 0.01, 0.02, 0.04, 0.08, 0.2})
    for (double bw = 1e9; bw < 1e12; bw *= 2) {
      const bool kv = choose_variant(table4(miss), {800e12, bw}).variant == Variant::PassKV;
      const bool kv_faster = choose_variant(table4(miss), {800e12, 2 * bw}).variant == Variant::PassKV;
      CHECK((!kv || kv_faster));
    }
}

TEST_CASE("heuristic inputs are validated") {
  LLMI_REQUIRE_THROWS_WITH(choose_variant(table4(0.1), {0, 1e9}), "attention rate C");
  LLMI_REQUIRE_THROWS_WITH(choose_variant(table4(0.1), {1e12, -1}), "link bandwidth BW");
  RingWorkload bad = table4(0.1);
  bad.kv_heads = 3;
  LLMI_REQUIRE_THROWS_WITH(choose_variant(bad, kTable5Rates), "multiple of kv heads");
  bad = table4(0.1);
  bad.T = 0;
  LLMI_REQUIRE_THROWS_WITH(choose_variant(bad, kTable5Rates), "needs new tokens");
}

TEST_CASE("cost model: exposed transfers, all-to-all only for pass-Q, one rank costs no comm") {
  const RingTimes t = model_ring(table4(0.025), kTable5Rates);
  // Per step: 4 * (T/N) * ((T+P)/N) * NH * D / C, and a KV shard of 2 * (T+P)/N * NKV * D * e bytes.
  CHECK(t.attn_step == test::Approx(4.0 * 800 * 32000 * 16 * 128 / 800e12));
  CHECK(t.kv_step == test::Approx(2.0 * 32000 * 128 * 2 / 26e9));
  CHECK(t.pass_kv == test::Approx(4 * t.attn_step + 3 * (t.kv_step - t.attn_step)));
  CHECK(t.pass_q == test::Approx(4 * t.attn_step + t.all_to_all));  // Q shard hidden here
  RingWorkload one = table4(0.025);
  one.ranks = 1;
  const RingTimes u = model_ring(one, kTable5Rates);
  CHECK(u.pass_kv == test::Approx(u.attn_step));
  CHECK(u.pass_q == test::Approx(u.attn_step));
}

TEST_CASE("refit: rates that misclassify measured points are rescaled until they do not") {
  // Points "measured" on a machine whose effective rates are 400 TF/s and 80 GB/s, timed with the
  // model; the startup probe claimed 800 TF/s and 26 GB/s.
  const MeasuredRates truth{400e12, 80e9};
  std::vector<MeasuredPoint> pts;
  for (double miss : {0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.3, 1.0}) {
    const RingTimes t = model_ring(table4(miss), truth);
    pts.push_back({table4(miss), t.pass_kv, t.pass_q});
  }
  REQUIRE(choice_regret(pts, kTable5Rates) > 0);  // the probed rates choose wrong somewhere
  const MeasuredRates fit = refit_rates(pts, kTable5Rates);
  CHECK(choice_regret(pts, fit) == 0.0);
  // Already right: no change.
  std::vector<MeasuredPoint> easy{pts.back()};
  const MeasuredRates same = refit_rates(easy, kTable5Rates);
  CHECK(same.flops_per_s == kTable5Rates.flops_per_s);
  CHECK(same.bytes_per_s == kTable5Rates.bytes_per_s);
}

TEST_CASE("startup probe: positive rates, and every rank agrees on them and on the choice") {
  const AttnShape sh{4, 2, 16, 0.25, true};
  const int N = 3;
  std::vector<MeasuredRates> got(N);
  std::vector<Variant> chosen(N);
  run_ranks(N, [&](Communicator& comm) {
    CpuEngine<float, float> eng(sh);
    got[comm.rank()] = probe_rates(comm, eng, ProbeSize{64, 1 << 16, 2});
    RingWorkload w{1000, 30000, N, 4, 2, 16, 4};
    chosen[comm.rank()] = choose_variant(w, got[comm.rank()]).variant;
  });
  for (int r = 0; r < N; ++r) {
    CHECK(got[r].flops_per_s > 0);
    CHECK(got[r].bytes_per_s > 0);
    CHECK(got[r].flops_per_s == got[0].flops_per_s);
    CHECK(got[r].bytes_per_s == got[0].bytes_per_s);
    CHECK(chosen[r] == chosen[0]);
  }
}

TEST_CASE("workload of a fused batch sums T and P over its sequences") {
  const RingWorkload w = workload_of({{100, 20}, {0, 7}, {50, 1}}, 4, AttnShape{32, 8, 128, 0.1, true}, 2);
  CHECK(w.T == 28);
  CHECK(w.P == 150);
  CHECK(w.ranks == 4);
  CHECK(w.q_heads == 32);
  CHECK(w.kv_heads == 8);
  CHECK(w.head_dim == 128);
  CHECK(w.elem_bytes == 2);
}
