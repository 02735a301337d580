// pass-KV, pass-Q and decode across two GPUs of one host over NCCL (one thread per GPU), against
// fp64 attention: the same scenarios as the CPU tests, including ranks with unequal work.
#include "gpu_harness.h"
#include "llmi/catch.h"

using namespace llmi;
using namespace llmi::cp;
using namespace llmi::cp::test;

namespace {
template <class Fn>
Verdict on_two_gpus(Fn fn) {
  Verdict v[2];
  run_gpu_threads(2, [&](GpuRank& g) { v[g.comm().rank()] = fn(g); });
  REQUIRE(v[0].str() == v[1].str());  // every rank gathered every output
  return v[0];
}
}  // namespace

TEST_CASE("two-GPU ring prefill equals single-rank attention") {
  for (Variant variant : {Variant::PassKV, Variant::PassQ})
    for (const Scenario& sc : prefill_scenarios()) {
      INFO(variant_name(variant) << " " << sc.name);
      Verdict v = on_two_gpus([&](GpuRank& g) { return run_prefill(g.comm(), MakeGpuEngine{g.stream()}, variant, sc); });
      INFO(v.str());
      CHECK(v.ok(kBoundBf16));
    }
}

TEST_CASE("two-GPU ring decode equals single-rank attention") {
  Verdict v = on_two_gpus([&](GpuRank& g) {
    return run_decode(g.comm(), MakeGpuEngine{g.stream()}, Variant::PassQ, decode_scenario(), 4, true);
  });
  INFO(v.str());
  CHECK(v.ok(kBoundBf16));
}
