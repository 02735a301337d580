// End-to-end serving on the GPU (Sarathi-Serve §5, reduced): the engine drives common/llama's
// CUDA runtime with random bf16 weights of a Llama-2 shape under each scheduler. Requests are
// offline (all present at t = 0, so TTFT includes queueing behind earlier requests); lengths are
// log-normal like the simulation's but scaled to the runtime's context (prompt median 512, P90
// 1024; output median 64, P90 128; <= 2048 tokens in all). Times are wall-clock step() calls.
#include <algorithm>
#include <cstdio>
#include <map>

#include "bench_cases.h"
#include "llmi/bench.h"
#include "llmi/llama/cuda_runtime.h"
#include "sarathi/engine.h"
#include "sarathi/serving_sim.h"

namespace sarathi::bench {

void run_e2e(const std::string& preset, const BenchConfig& bc, const llmi::bench::Options& opt,
             llmi::bench::Report& report, std::string& headline) {
  llmi::llama::CudaOptions o;
  const llmi::llama::Config cfg = llmi::llama::Config::preset(preset);
  // KV of 32 (7B) or 16 (13B) sequences of 2048 tokens beside the weights fits an 80 GB card.
  // A step holds at most 2048 prompt tokens (the policies' limit below) plus one per decode.
  o.max_seqs = cfg.layers > 32 ? 16 : 32, o.max_context = 2048, o.max_step_tokens = 2048 + 32;
  auto rt = llmi::llama::make_cuda_runtime_random(cfg, opt.seed, o);
  WorkloadConfig w;
  w.num_requests = opt.quick ? 16 : bc.e2e_requests, w.qps = 0, w.seed = opt.seed;
  w.prompt_median = 512, w.prompt_p90 = 1024, w.output_median = 64, w.output_p90 = 128;
  w.max_total = 2048;
  std::vector<EngineRequest> reqs;
  for (const RequestSpec& r : make_workload(w)) {
    EngineRequest e{r.id, std::vector<int>(size_t(r.prompt_len)), r.output_len};
    for (int i = 0; i < r.prompt_len; ++i) e.prompt[size_t(i)] = (r.id * 131 + i * 7) % cfg.vocab_size;
    reqs.push_back(std::move(e));
  }
  std::printf("\n[%s] end-to-end on the CUDA runtime (random weights), %d requests offline\n"
              "%-14s %8s %10s %9s %9s %9s %9s %8s\n", preset.c_str(), w.num_requests, "scheduler",
              "wall s", "tok/s", "TTFT p50", "TTFT p99", "TBT p50", "TBT p99", "max tok");
  std::map<std::string, double> tput;
  for (const std::string& name : scheduler_names()) {
    SchedulerConfig c;
    c.max_batch_seqs = o.max_seqs;
    // The runtime takes at most 2048 new tokens per step: the whole-prompt policies' limit.
    c.token_budget = (name == "vllm" || name == "orca") ? 2048 : 512;
    c.chunk_size = 512, c.block_size = 16, c.kv_blocks = o.max_seqs * o.max_context / 16;
    auto s = make_scheduler(name, c);
    double now = 0;
    std::map<int, double> last;
    std::vector<double> ttft, tbt;
    EngineStats st;
    run_engine(*rt, *s, reqs, &st, [&](const Batch& b, double secs) {
      now += secs;
      for (const ScheduledChunk& ch : b.chunks) {
        if (!ch.emits) continue;
        auto it = last.find(ch.req);
        (it == last.end() ? ttft : tbt).push_back(it == last.end() ? now : now - it->second);
        last[ch.req] = now;
      }
    });
    auto pct = [](std::vector<double> v, double p) {
      std::sort(v.begin(), v.end());
      return v.empty() ? 0.0 : llmi::bench::percentile(v, p);
    };
    const double tokens = double(ttft.size() + tbt.size());
    tput[name] = tokens / now;
    std::printf("%-14s %8.2f %10.0f %8.2fs %8.2fs %7.1fms %7.1fms %8d\n", name.c_str(), now,
                tput[name], pct(ttft, 50), pct(ttft, 99), pct(tbt, 50) * 1e3, pct(tbt, 99) * 1e3,
                st.max_batch_tokens);
    llmi::bench::Result r;
    r.name = preset + "/e2e " + name;
    r.params = {{"model", preset}, {"requests", w.num_requests}};
    r.ms.n = st.steps, r.ms.median = now * 1e3;
    r.check = "random weights (timing only)";
    r.extra = {{"throughput_tok_s", tput[name]}, {"ttft_p50_s", pct(ttft, 50)},
               {"ttft_p99_s", pct(ttft, 99)}, {"tbt_p50_s", pct(tbt, 50)},
               {"tbt_p99_s", pct(tbt, 99)}, {"steps", st.steps}};
    report.add(r);
  }
  char buf[200];
  std::snprintf(buf, sizeof buf, "%s GPU e2e (offline) throughput sarathi-serve/vllm %.2fx. ",
                preset.c_str(), tput["sarathi-serve"] / tput["vllm"]);
  headline += buf;
}

}  // namespace sarathi::bench
