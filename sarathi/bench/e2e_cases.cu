// End-to-end serving on the GPU (Sarathi-Serve §5, reduced to about 3 minutes of H200 time for
// Llama-2-7B): the engine drives common/llama's CUDA runtime, random bf16 weights of a Llama-2
// shape, under each scheduler. Requests arrive by a Poisson process on a virtual clock that
// advances by the measured wall time of each Runtime::step; a request is invisible to the
// scheduler until the clock passes its arrival, and idle gaps cost no GPU time (serving_loop.h).
//
//   1. profile (§4.3, Table 3): a decode step of every KV slot at 1024 cached tokens (the paper's
//      4K context of 8K-token requests, scaled to the runtime's 2048). P99 TBT SLO = 5x that
//      step (the strict SLO; --e2e-slo-factor). Sarathi-Serve's token budget (and SARATHI's
//      chunk) = the largest whose hybrid step at that context takes at most 80% of the SLO.
//   2. offline: all requests at t = 0. The best request rate r (requests / makespan) sets the
//      QPS scale of the rest.
//   3. one load: Poisson arrivals at e2e_load x r; throughput, TTFT and TBT p50 / p99.
//   4. capacity: the largest QPS in (r / 10, 3 r) with P99 TBT <= SLO and median scheduling
//      delay <= e2e_delay_factor / r, by geometric bisection; every trial is a GPU serving run.
//
// Workload: log-normal prompt (median 512, P90 1024) and output (median 64, P90 128) lengths,
// <= 2048 tokens in all (the CPU simulation's workload scaled to the runtime's context),
// synthetic prompt tokens.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>

#include "bench_cases.h"
#include "llmi/bench.h"
#include "llmi/llama/cuda_runtime.h"
#include "sarathi/engine.h"
#include "sarathi/step_profile.h"

namespace sarathi::bench {

namespace {

constexpr int kContext = 2048;         // per sequence in the runtime
constexpr int kProfileContext = 1024;  // cached tokens of the profiled steps
constexpr int kWholePrompts = 2048;    // vLLM / Orca prefill tokens per batch (the step limit)
constexpr double kBudgetHeadroom = 0.8;  // for later chunks of long prompts, longer decodes

// vLLM and Orca batch whole prompts; SARATHI chunks and Sarathi-Serve's budget are the profiled
// budget. Every KV slot holds a whole context, so KV never forces a preemption here.
SchedulerFactory factory(const std::string& name, int slots, int budget) {
  SchedulerConfig c;
  c.max_batch_seqs = slots;
  c.token_budget = (name == "vllm" || name == "orca") ? kWholePrompts : budget;
  c.chunk_size = budget;
  c.block_size = 16, c.kv_blocks = slots * kContext / 16;
  return [=] { return make_scheduler(name, c); };
}

void print_header(const char* first) {
  std::printf("%-14s %7s %8s %9s %9s %9s %9s %9s\n", "scheduler", first, "tok/s", "TTFT p50",
              "TTFT p99", "TBT p50", "TBT p99", "delay p50");
}

void print_row(const std::string& name, double qps, const ServingResult& r) {
  std::printf("%-14s %7.2f %8.0f %8.3fs %8.3fs %7.1fms %7.1fms %8.3fs\n", name.c_str(), qps,
              r.throughput_tok_s, r.ttft_p50_s, r.ttft_p99_s, r.tbt_p50_s * 1e3, r.tbt_p99_s * 1e3,
              r.sched_delay_p50_s);
}

// One JSON row per serving run: time_ms is the distribution of its step times.
void add_row(llmi::bench::Report& report, const std::string& name, nlohmann::json params,
             const ServingResult& r, const nlohmann::json& extra = nlohmann::json::object()) {
  llmi::bench::Result res;
  res.name = name;
  res.params = std::move(params);
  res.ms = llmi::bench::summarize(r.batch_ms);
  res.check = "random weights (timing only)";
  res.extra = {{"throughput_tok_s", r.throughput_tok_s}, {"ttft_p50_s", r.ttft_p50_s},
               {"ttft_p99_s", r.ttft_p99_s}, {"tbt_p50_s", r.tbt_p50_s},
               {"tbt_p99_s", r.tbt_p99_s}, {"sched_delay_p50_s", r.sched_delay_p50_s},
               {"makespan_s", r.makespan_s}, {"busy_s", r.busy_s}, {"steps", r.iterations},
               {"max_batch_tokens", r.max_batch_tokens}};
  res.extra.update(extra);
  report.add(res);
}

double ratio(double a, double b) { return b > 0 ? a / b : INFINITY; }

}  // namespace

void run_e2e(const std::string& preset, const BenchConfig& bc, const llmi::bench::Options& opt,
             llmi::bench::Report& report, std::string& headline) {
  const auto t_start = std::chrono::steady_clock::now();
  const llmi::llama::Config cfg = llmi::llama::Config::preset(preset);
  llmi::llama::CudaOptions o;
  // KV of 32 (7B) or 16 (13B) sequences of 2048 tokens beside the weights fits an 80 GB card.
  o.max_seqs = cfg.layers > 32 ? 16 : 32, o.max_context = kContext;
  o.max_step_tokens = kWholePrompts + o.max_seqs;
  auto rt = llmi::llama::make_cuda_runtime_random(cfg, opt.seed, o);
  const int slots = o.max_seqs;
  const std::string tag = preset + "/e2e ";

  // 1. Profile: the SLO and the token budget (Sarathi-Serve §4.3, Table 3).
  double decode_s = 0, slo_s = 0;
  int budget = 0;
  {
    StepProfiler prof(*rt, slots, kProfileContext);
    decode_s = prof.decode_s(5);
    slo_s = bc.e2e_slo_factor * decode_s;
    budget = prof.largest_budget_within({1024, 768, 512, 384, 256, 128}, kBudgetHeadroom * slo_s,
                                        3);
  }
  const bool fits = budget > 0;
  if (!fits) budget = 128;  // the smallest candidate
  std::printf("\n[%s] end-to-end serving on the CUDA runtime (random weights), %d KV slots of %d "
              "tokens\nprofile: decode step of %d sequences at %d tokens %.2f ms -> P99 TBT SLO "
              "%.1f ms (%gx); token budget %d%s\n", preset.c_str(), slots, kContext, slots,
              kProfileContext, decode_s * 1e3, slo_s * 1e3, bc.e2e_slo_factor, budget,
              fits ? "" : " (no candidate fits the SLO: the smallest)");
  {
    llmi::bench::Result r;
    r.name = tag + "profile";
    r.params = {{"model", preset}, {"slots", slots}, {"context", kProfileContext}};
    r.ms.n = 5, r.ms.median = decode_s * 1e3;
    r.check = "random weights (timing only)";
    r.extra = {{"tbt_slo_s", slo_s}, {"slo_factor", bc.e2e_slo_factor}, {"token_budget", budget}};
    report.add(r);
  }

  WorkloadConfig w;
  w.num_requests = opt.quick ? std::min(bc.e2e_requests, 12) : bc.e2e_requests;
  w.seed = opt.seed, w.max_total = kContext;
  w.prompt_median = 512, w.prompt_p90 = 1024, w.output_median = 64, w.output_p90 = 128;
  std::printf("workload: %d requests, log-normal prompt (median %.0f, P90 %.0f) and output "
              "(median %.0f, P90 %.0f) lengths, <= %d tokens\n", w.num_requests, w.prompt_median,
              w.prompt_p90, w.output_median, w.output_p90, w.max_total);
  double gpu_s = 0;  // summed step times: the GPU time the serving runs took
  auto trial = [&](const std::string& name) {
    return [&gpu_s, t = engine_trial(*rt, factory(name, slots, budget), w)](double qps) {
      ServingResult r = t(qps);
      gpu_s += r.busy_s;
      return r;
    };
  };

  // 2. Offline: every request at t = 0 (qps 0).
  std::printf("\noffline (all requests at t = 0)\n");
  print_header("QPS");
  std::map<std::string, ServingResult> offline;
  double rate = 0;  // requests per second of the fastest scheduler
  for (const std::string& name : bc.e2e_schedulers) {
    offline[name] = trial(name)(0);
    rate = std::max(rate, offline[name].requests / offline[name].makespan_s);
    print_row(name, 0, offline[name]);
    add_row(report, tag + "offline " + name, {{"model", preset}, {"qps", 0}}, offline[name]);
  }

  // 3. One load.
  const double load_qps = bc.e2e_load * rate;
  std::printf("\nPoisson arrivals at %.2f QPS (%.2f x the offline rate %.2f req/s)\n", load_qps,
              bc.e2e_load, rate);
  print_header("QPS");
  for (const std::string& name : bc.e2e_schedulers) {
    const ServingResult r = trial(name)(load_qps);
    print_row(name, load_qps, r);
    add_row(report, tag + "load " + name, {{"model", preset}, {"qps", load_qps}}, r);
  }

  // 4. Capacity under the SLO, every bisection trial a GPU serving run.
  const Slo slo{slo_s, bc.e2e_delay_factor / rate};
  const int steps = opt.quick ? 1 : bc.e2e_steps;
  std::printf("\ncapacity: max QPS in (%.2f, %.2f) with P99 TBT <= %.1f ms and median scheduling "
              "delay <= %.3f s (%g offline service times), %d geometric bisection steps\n",
              rate / 10, 3 * rate, slo.tbt_p99_s * 1e3, slo.sched_delay_p50_s,
              bc.e2e_delay_factor, steps);
  std::map<std::string, CapacityResult> cap;
  for (const std::string& name : bc.e2e_schedulers) {
    auto logged = [&, t = trial(name)](double qps) {
      const ServingResult r = t(qps);
      std::printf("  %-13s trial %6.2f QPS: TBT p99 %6.1f ms, delay p50 %.3f s -> %s\n",
                  name.c_str(), qps, r.tbt_p99_s * 1e3, r.sched_delay_p50_s,
                  slo.met_by(r) ? "meets" : "misses");
      return r;
    };
    cap[name] = capacity_search(logged, slo, rate / 10, 3 * rate, steps, /*geometric=*/true);
  }
  print_header("max QPS");
  for (const std::string& name : bc.e2e_schedulers) {
    print_row(name, cap[name].qps, cap[name].at_capacity);
    add_row(report, tag + "capacity " + name,
            {{"model", preset}, {"tbt_slo_s", slo.tbt_p99_s},
             {"max_sched_delay_s", slo.sched_delay_p50_s}, {"token_budget", budget}},
            cap[name].at_capacity, {{"capacity_qps", cap[name].qps}, {"trials", cap[name].trials}});
  }

  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  std::printf("GPU time in serving steps %.0f s; section wall time %.0f s\n", gpu_s, secs);
  if (!cap.count("vllm") || !cap.count("sarathi-serve")) return;
  // At capacity both meet the same P99 TBT bound, so the throughput there is the throughput at
  // equal P99 TBT (measured tokens / makespan, each trial's drain included). A vLLM capacity of
  // 0 means below the range: its capacity is then < rate / 10, and the gains are lower bounds.
  const CapacityResult &ss = cap["sarathi-serve"], &vllm = cap["vllm"];
  const bool below = vllm.qps == 0;
  const double cap_gain = ss.qps / (below ? rate / 10 : vllm.qps);
  const double tput_gain = below ? NAN : ratio(ss.at_capacity.throughput_tok_s,
                                               vllm.at_capacity.throughput_tok_s);
  const double offline_gain =
      ratio(offline["sarathi-serve"].throughput_tok_s, offline["vllm"].throughput_tok_s);
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "%s GPU e2e, P99 TBT <= %.0f ms: capacity sarathi-serve/vllm %s%.2fx (%.2f vs "
                "%s%.2f QPS), throughput at equal P99 TBT %.2fx; offline throughput %.2fx. ",
                preset.c_str(), slo_s * 1e3, below ? "> " : "", cap_gain, ss.qps,
                below ? "< " : "", below ? rate / 10 : vllm.qps, tput_gain, offline_gain);
  std::printf("%s\n", buf);
  headline += buf;
}

}  // namespace sarathi::bench
