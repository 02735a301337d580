// paged_attention_bench: the PagedAttention paper's two claims, measured here.
//
//   1. Memory (§3, §6.2): KV waste, batch size and throughput of paged allocation against
//      Orca-style contiguous reservation (Max, Pow2, Oracle) at equal memory, on a ShareGPT-like
//      Poisson workload. Runs without a GPU (cost model); with one, decode attention is timed
//      with the real kernel.
//   2. Kernel (§4.1, §7.1): paged decode bandwidth over a batch x context grid (32 q heads,
//      8 kv heads, head dim 128, block 16, bf16) against the measured copy bandwidth and the
//      same kernel on a contiguous cache; block sizes 8/16/32 and an fp8 cache.
//
// Run: paged_attention_bench [--quick] [--json results/h100.json] [--no-gpu-sim] [--rate 6]
//      [--partition-sweep]
#include <algorithm>
#include <cstdio>

#include "bench_cases.h"
#include "llmi/check.h"
#include "llmi/device.h"

using namespace paged;

namespace {
// The waste to quote: while memory-bound (the paper's Fig. 2 condition), else over the run.
double quoted_waste(const SimResult& r) { return r.pressure_time_frac > 0 ? r.waste() : r.reserved_waste; }
}  // namespace

int main(int argc, char** argv) {
  llmi::bench::Options opt;
  CLI::App app{"PagedAttention (vLLM): KV memory waste under serving, paged decode bandwidth"};
  llmi::bench::add_options(app, opt);
  bench::SimOptions sim;
  bool gpu_sim = true, sim_only = false, sweep = false;
  bench::DecodeGridOptions grid;
  app.add_option("--requests", sim.workload.num_requests, "requests in the simulated workload")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--rate", sim.workload.rate_per_s, "Poisson arrival rate (req/s); 0 = all at once")
      ->check(CLI::Range(0.0, 1e6));
  app.add_option("--kv-gib", sim.kv_gib, "KV memory per policy in GiB (default 40: H100 80 GB minus a 13B model)")
      ->check(CLI::Range(1.0, 1000.0));
  app.add_flag("--gpu-sim,!--no-gpu-sim", gpu_sim, "time the simulation's decode attention with the real kernel");
  app.add_flag("--sim-only", sim_only, "run only the serving simulation");
  app.add_flag("--partition-sweep", sweep, "also time decode v1/v2 at several partition sizes");
  auto* batches = app.add_option("--batches", grid.batches, "decode grid batch sizes, e.g. 1,16,256")
                      ->delimiter(',')->check(CLI::Range(1, 65535));
  auto* contexts = app.add_option("--contexts", grid.contexts, "decode grid context lengths, e.g. 512,32768")
                       ->delimiter(',')->check(CLI::Range(1, 1 << 20));
  sim.workload.rate_per_s = 0;
  CLI11_PARSE(app, argc, argv);
  try {
    const bool gpu = llmi::has_cuda_device();
    if (gpu) LLMI_CUDA_CHECK(cudaSetDevice(opt.device));
    llmi::bench::Report report("paged_attention", opt, argc, argv);
    if (opt.quick) sim.workload.num_requests = std::min(sim.workload.num_requests, 300);
    sim.workload.seed = opt.seed;
    sim.gpu_attention = gpu && gpu_sim;
    const bench::SimSummary s = bench::run_serving_sim(report, opt, sim);

    bench::DecodeSummary d;
    if (!gpu) {
      std::puts("\nno CUDA device: decode-kernel cases skipped (the simulation above used the cost model)");
    } else if (!sim_only) {
      if (opt.quick && !batches->count()) grid.batches = {1, 16, 64};
      if (opt.quick && !contexts->count()) grid.contexts = {512, 4096};
      d = bench::run_decode_grid(report, opt, grid);
      bench::run_decode_variants(report, opt);
      if (sweep) bench::run_partition_sweep(report, opt);
    }
    char measured[512];
    if (d.large_cases > 0)
      std::snprintf(measured, sizeof measured,
                    "KV waste %.1f%% paged vs %.0f%%/%.0f%%/%.0f%% Orca Max/Pow2/Oracle, %.2fx/%.2fx the batch; "
                    "paged decode >= %.0f%% of copy bandwidth at batch x ctx >= 256k, peak %.0f GB/s (%.2fx the "
                    "H100 cuDNN dense decode anchor of 2.85 TB/s; same-card only), paged overhead over "
                    "contiguous <= %.1f%%",
                    100 * quoted_waste(s.paged), 100 * quoted_waste(s.max), 100 * quoted_waste(s.pow2),
                    100 * quoted_waste(s.oracle),
                    s.paged.mean_batch / s.max.mean_batch, s.paged.mean_batch / s.oracle.mean_batch,
                    100 * d.min_bw_frac_large, d.max_gbps, d.max_gbps / 2850, 100 * d.max_overhead_large);
    else
      std::snprintf(measured, sizeof measured,
                    "KV waste %.1f%% paged vs %.0f%%/%.0f%%/%.0f%% Orca Max/Pow2/Oracle, %.2fx/%.2fx the batch "
                    "(decode kernel not measured)",
                    100 * quoted_waste(s.paged), 100 * quoted_waste(s.max), 100 * quoted_waste(s.pow2),
                    100 * quoted_waste(s.oracle),
                    s.paged.mean_batch / s.max.mean_batch, s.paged.mean_batch / s.oracle.mean_batch);
    report.set_headline(measured,
                        "vLLM: prior systems use 20.4-38.2% of KV memory for token states, vLLM wastes < 4%; "
                        "2.2x/4.3x the batched requests of Orca Oracle/Max; paged kernel 20-26% slower than "
                        "FasterTransformer's contiguous one");
    std::printf("\n%s\n", measured);
    return report.finish();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "paged_attention_bench: %s\n", e.what());
    return 1;
  }
}
