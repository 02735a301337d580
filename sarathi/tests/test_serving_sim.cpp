// Cost model, workload generator, serving simulation, capacity search and pipeline bubbles.
#include <algorithm>
#include <cmath>
#include <map>

#include "llmi/catch.h"
#include "sarathi/pipeline_sim.h"
#include "sarathi/serving_sim.h"

using namespace sarathi;
using llmi::test::Approx;

TEST_CASE("cost model: anchor interpolation, tile quantization, piggyback is cheap", "[cost]") {
  const CostModel cm = h100_anchor_model("llama2-7b");
  CHECK(cm.linear_layer_us(256) == 178);
  CHECK(cm.linear_layer_us(257) == 197);            // the anchors' tile-quantization step
  CHECK(cm.linear_layer_us(320) == Approx(197 + (244 - 197) * 63.0 / 127));  // 257..384
  CHECK(cm.linear_layer_us(4096) == Approx(1233 + (1233 - 552) * 2.0));  // extended last segment
  // A decode riding on a 256-token chunk costs far less than one in a small decode-only batch
  // (short contexts, so the linear layers dominate as in SARATHI §3).
  const double hybrid = cm.batch_ms(synthetic_batch(32, 128, 224, 0));
  const double prefill = cm.batch_ms(synthetic_batch(0, 0, 224, 0));
  const double decode8 = cm.batch_ms(synthetic_batch(8, 128, 0, 0));
  CHECK((hybrid - prefill) / 32 < decode8 / 8 / 5);
  // Attention grows with the KV a chunk reads: a later chunk costs more than the first.
  CHECK(cm.layer(synthetic_batch(0, 0, 512, 3072)).attention_us >
        cm.layer(synthetic_batch(0, 0, 512, 0)).attention_us);
  LLMI_REQUIRE_THROWS_WITH(h100_anchor_model("gpt2"), "unknown");
}

TEST_CASE("workload: Poisson arrivals and log-normal lengths match their parameters",
          "[workload]") {
  WorkloadConfig w;
  w.num_requests = 4000, w.qps = 5.0, w.seed = 3;
  const auto reqs = make_workload(w);
  std::vector<double> prompt, output;
  for (const auto& r : reqs) {
    REQUIRE(r.prompt_len + r.output_len <= w.max_total);
    prompt.push_back(r.prompt_len), output.push_back(r.output_len);
  }
  std::sort(prompt.begin(), prompt.end());
  std::sort(output.begin(), output.end());
  CHECK(prompt[2000] == Approx(1730).epsilon(0.1));  // the 8192 filter trims the tail a little
  CHECK(output[2000] == Approx(415).epsilon(0.1));
  CHECK(output[3600] == Approx(834).epsilon(0.1));
  CHECK(reqs.back().arrival_s / reqs.size() == Approx(1 / w.qps).epsilon(0.1));
  w.prompt_p90 = 10;
  LLMI_REQUIRE_THROWS_WITH(make_workload(w), "median <= p90");
}

namespace {
SchedulerConfig serving_config() {
  SchedulerConfig c;
  c.max_batch_seqs = 64, c.token_budget = 512, c.chunk_size = 512;
  c.block_size = 16, c.kv_blocks = 100000 / 16;
  return c;
}
WorkloadConfig small_workload(double qps) {
  WorkloadConfig w;
  w.num_requests = 120, w.qps = qps, w.seed = 11;
  return w;
}
}  // namespace

TEST_CASE("simulation: every token is accounted for; stall-free batching bounds TBT",
          "[sim]") {
  const CostModel cm = h100_anchor_model("llama2-7b");
  const auto reqs = make_workload(small_workload(3.0));
  long out_tokens = 0;
  for (const auto& r : reqs) out_tokens += r.output_len;
  std::map<std::string, ServingResult> res;
  for (const std::string& name : scheduler_names()) {
    auto s = make_scheduler(name, serving_config());
    const ServingResult r = simulate(*s, cm, reqs);
    INFO(name);
    CHECK(r.throughput_tok_s * r.makespan_s == Approx(double(out_tokens)));
    CHECK(r.ttft_p50_s > 0);
    CHECK(r.tbt_p50_s <= r.tbt_p99_s);
    res[name] = r;
  }
  // vLLM and Orca put whole prompts (up to 8k tokens) between two decodes of a request; stall-
  // free batching caps every batch at 512 tokens (Sarathi-Serve Fig. 1/§4.2).
  CHECK(res["sarathi-serve"].tbt_p99_s < 0.5 * res["vllm"].tbt_p99_s);
  CHECK(res["sarathi-serve"].tbt_p99_s < 0.5 * res["orca"].tbt_p99_s);
  // Its worst batch is bounded by the 512-token budget's cost.
  double worst = 0;
  for (double ms : res["sarathi-serve"].batch_ms) worst = std::max(worst, ms);
  CHECK(worst < cm.batch_ms(synthetic_batch(64, 8192, 448, 7680)) * 1.01);
}

TEST_CASE("capacity search finds the largest QPS meeting the TBT SLO", "[sim][capacity]") {
  const CostModel cm = h100_anchor_model("llama2-7b");
  SchedulerConfig c = serving_config();
  auto make = [&] { return make_scheduler("sarathi-serve", c); };
  WorkloadConfig w = small_workload(1);
  const double slo = 0.1;
  const CapacityResult cap =
      capacity_search(simulation_trial(make, cm, w), Slo{slo}, 0.25, 16, 6);
  REQUIRE(cap.qps > 0.25);
  CHECK(cap.at_capacity.tbt_p99_s <= slo);
  CHECK(cap.at_capacity.sched_delay_p50_s <= 2.0);
  // Well above capacity the SLO fails (a run at 2x the found QPS).
  w.qps = 2 * cap.qps;
  auto s = make();
  const ServingResult over = simulate(*s, cm, make_workload(w));
  CHECK((over.tbt_p99_s > slo || over.sched_delay_p50_s > 2.0));
}

TEST_CASE("pipeline: uniform hybrid batches leave fewer bubbles than prefill/decode batches",
          "[pipeline]") {
  const CostModel cm = h100_anchor_model("llama2-13b");
  WorkloadConfig w;
  w.num_requests = 256, w.qps = 0, w.seed = 5;
  w.prompt_median = 1024, w.prompt_p90 = 2048, w.output_median = 128, w.output_p90 = 256;
  const auto reqs = make_workload(w);
  SchedulerConfig c;
  c.max_batch_seqs = 16, c.token_budget = 4096, c.chunk_size = 256, c.kv_blocks = 100000 / 16;
  const PipelineResult vllm =
      simulate_pipeline([&] { return make_scheduler("vllm", c); }, cm, reqs, 4);
  const PipelineResult sarathi =
      simulate_pipeline([&] { return make_scheduler("sarathi", c); }, cm, reqs, 4);
  INFO("bubble vllm " << vllm.bubble_ms << " sarathi " << sarathi.bubble_ms);
  CHECK(vllm.busy_ms + vllm.bubble_ms == Approx(4 * vllm.makespan_ms));
  CHECK(sarathi.bubble_ms < 0.5 * vllm.bubble_ms);
  // One stage: no pipeline, no bubbles.
  CHECK(simulate_pipeline([&] { return make_scheduler("vllm", c); }, cm, reqs, 1).bubble_ms ==
        Approx(0).margin(1e-6));
}
