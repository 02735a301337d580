// sarathi_bench: SARATHI (arXiv 2308.16369) and Sarathi-Serve (arXiv 2403.02310).
//
//   sarathi_bench                      # all sections; GPU ones only when a GPU is present
//   sarathi_bench --model llama2-13b --quick --json out.json
//
// 1. piggyback (GPU): per-layer decode-only / prefill / hybrid batch times of Llama-2 shapes with
//    random bf16 weights, checked against fp64 first (bench/piggyback_cases.cu).
// 2. serving (CPU): the four schedulers on a cost model -- measured per-layer linear times when
//    the GPU section ran, else the shared H100 anchors -- throughput, TTFT/TBT, capacity under
//    TBT SLOs, pipeline bubbles (bench/serving_cases.cpp).
// 3. --e2e (GPU): the engine on common/llama's CUDA runtime, every scheduler, offline, at one
//    Poisson load and at its capacity under a TBT SLO (bench/e2e_cases.cu).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "bench_cases.h"
#include "llmi/device.h"

int main(int argc, char** argv) {
  using namespace sarathi;
  llmi::bench::Options opt;
  bench::BenchConfig bc;
  std::string model = "all";
  bool no_gpu = false, no_serving = false, e2e = false;
  std::string cost_json;
  CLI::App app{"SARATHI piggyback microbenchmark and Sarathi-Serve scheduling simulation"};
  llmi::bench::add_options(app, opt);
  app.add_option("--model", model, "llama2-7b, llama2-13b or all")
      ->check(CLI::IsMember({"llama2-7b", "llama2-13b", "all"}));
  app.add_option("--decode-ctx", bc.decode_ctx, "cached tokens per decode in the GPU sweep")
      ->check(CLI::Range(1, 8192));
  app.add_option("--requests", bc.requests, "requests per serving trial")->check(CLI::Range(8, 100000));
  app.add_option("--capacity-steps", bc.capacity_steps, "QPS bisection steps")->check(CLI::Range(1, 30));
  app.add_option("--pp-stages", bc.pp_stages, "pipeline stages")->check(CLI::Range(1, 64));
  app.add_flag("--no-gpu", no_gpu, "skip the GPU piggyback sweep");
  app.add_flag("--no-serving", no_serving, "skip the serving simulation");
  app.add_option("--cost-json", cost_json,
                 "take the per-layer linear table from an earlier run's --json (GPU rows)")
      ->check(CLI::ExistingFile);
  app.add_flag("--e2e", e2e, "GPU end-to-end serving on the CUDA runtime (random weights)");
  app.add_option("--e2e-requests", bc.e2e_requests, "requests per --e2e serving trial")
      ->check(CLI::Range(4, 4096));
  app.add_option("--e2e-steps", bc.e2e_steps, "--e2e capacity bisection steps (trials)")
      ->check(CLI::Range(1, 12));
  app.add_option("--e2e-slo-factor", bc.e2e_slo_factor,
                 "--e2e P99 TBT SLO in decode steps (5 = Sarathi-Serve's strict)")
      ->check(CLI::Range(1.0, 100.0));
  app.add_option("--e2e-delay-factor", bc.e2e_delay_factor,
                 "--e2e median scheduling delay bound in offline service times")
      ->check(CLI::Range(0.1, 100.0));
  app.add_option("--e2e-load", bc.e2e_load, "--e2e fixed load as a fraction of the offline rate")
      ->check(CLI::Range(0.05, 2.0));
  app.add_option("--e2e-schedulers", bc.e2e_schedulers,
                 "--e2e schedulers, comma-separated (default: all four)")
      ->delimiter(',')
      ->check(CLI::IsMember(scheduler_names()));
  CLI11_PARSE(app, argc, argv);
  bc.models = model == "all" ? std::vector<std::string>{"llama2-7b", "llama2-13b"}
                             : std::vector<std::string>{model};
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // a killed run still leaves its lines in the log
  try {
    llmi::bench::Report report("sarathi_bench", opt, argc, argv);
    std::string measured;
    const bool gpu = !no_gpu && llmi::has_cuda_device();
    if (!gpu) std::printf("GPU piggyback section skipped (%s)\n", no_gpu ? "--no-gpu" : "no CUDA device");
    for (const std::string& preset : bc.models) {
      CostModel cost = h100_anchor_model(preset);
      if (gpu) {
        cost.linear_us = bench::run_piggyback(preset, bc, opt, report, measured);
        cost.source = "per-layer linear times measured here on " + llmi::device_info().name;
      } else if (!cost_json.empty()) {
        cost.linear_us = bench::linear_table_from_json(cost_json, preset);
        cost.source = "per-layer linear times from " + cost_json;
      }
      if (!no_serving) bench::run_serving(cost, bc, opt, report, measured);
      if (e2e && llmi::has_cuda_device()) bench::run_e2e(preset, bc, opt, report, measured);
    }
    report.set_headline(measured,
                        "SARATHI: up to 10x decode throughput from piggybacking, 1.33x end-to-end "
                        "(LLaMA-13B, A6000); Sarathi-Serve: 2.6x capacity vs vLLM (Mistral-7B, "
                        "A100) under a strict TBT SLO");
    return report.finish();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sarathi_bench: %s\n", e.what());
    return 1;
  }
}
