// The GPU attention block and merge inside the ring on one GPU (N = 1 over NCCL), and the error
// for asking more ranks than GPUs. test_ring_2gpu.cpp runs the ring across two GPUs.
// Verdicts are collected on the GPU thread and asserted after it joins (Catch2 is not thread-safe).
#include <string>
#include <utility>
#include <vector>

#include "gpu_harness.h"
#include "llmi/catch.h"

using namespace llmi;
using namespace llmi::cp;
using namespace llmi::cp::test;

TEST_CASE("GPU block (bf16 in, fp32 out and lse) equals fp64 attention, N = 1") {
  std::vector<std::pair<std::string, Verdict>> got;
  run_gpu_threads(1, [&](GpuRank& g) {
    for (Variant variant : {Variant::PassKV, Variant::PassQ})
      for (const Scenario& sc : prefill_scenarios())
        got.emplace_back(std::string(variant_name(variant)) + " " + sc.name,
                         run_prefill(g.comm(), MakeGpuEngine{g.stream()}, variant, sc));
    got.emplace_back("decode", run_decode(g.comm(), MakeGpuEngine{g.stream()}, Variant::PassQ,
                                          decode_scenario(), 3, true));
    Scenario llama{"Llama-3-8B heads (32 q, 8 kv, dim 128), P=40 T=90", {{40, 90}}, true, 32, 8, 128};
    got.emplace_back(llama.name, run_prefill(g.comm(), MakeGpuEngine{g.stream()}, Variant::PassKV, llama));
  });
  REQUIRE(got.size() == 2 * prefill_scenarios().size() + 2);
  for (const auto& [name, v] : got) {
    INFO(name << ": " << v.str());
    CHECK(v.ok(kBoundBf16));
  }
}

TEST_CASE("more ranks than GPUs is a clear error") {
  int visible = 0;
  REQUIRE(cudaGetDeviceCount(&visible) == cudaSuccess);
  LLMI_REQUIRE_THROWS_WITH(run_gpu_threads(visible + 1, [](GpuRank&) {}), "need one GPU each");
  LLMI_REQUIRE_THROWS_WITH(GpuEngine(AttnShape{2, 1, 256, 1.0, true}, nullptr), "head dim up to 128");
}
