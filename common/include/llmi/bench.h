// The benchmark harness every paper's benchmark uses (the nccl-tests model: one harness owns
// options, warm-up, timing, statistics, ceilings and output; each benchmark supplies cases).
//
//   llmi::bench::Options opt;  CLI::App app{"..."};  llmi::bench::add_options(app, opt);
//   CLI11_PARSE(app, argc, argv);
//   llmi::bench::Report report("my_bench", opt, argc, argv);
//   auto ms = llmi::bench::time_cuda([&](cudaStream_t s) { kernel<<<g, b, 0, s>>>(...); }, opt);
//   llmi::bench::Result r; r.name = "case"; r.ms = ms; r.flops = F; r.bytes = B;
//   r.check = cmp.str(); r.check_ok = cmp.ok(bound); report.add(r);
//   report.finish();   // prints the table, writes --json
//
// Rates: TFLOP/s = flops / median time; GB/s = bytes / median time, each beside the device's
// measured ceiling (bf16 cuBLAS GEMM at 8192^3, device-to-device copy counting read + write).
#pragma once
#include <cuda_runtime.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "llmi/device.h"

namespace llmi::bench {

struct Options {
  int warmup = 10;
  int iters = 50;
  std::string json;        // write results here when set
  int device = 0;
  uint64_t seed = 1234;
  bool check = true;       // verify against the reference before timing
  bool quick = false;      // smallest sweep, for smoke runs and CI
  bool flush_l2 = true;    // overwrite L2 before each timed run
};

// --warmup --iters --json --device --seed --check/--no-check --quick --no-flush, validated by CLI11.
void add_options(CLI::App& app, Options& opt);

struct Stats {
  int n = 0;
  double median = NAN, min = NAN, p10 = NAN, p90 = NAN, mean = NAN;  // milliseconds
};
// Order statistics with linear interpolation between ranks (numpy's default percentile).
Stats summarize(std::vector<double> samples_ms);
double percentile(std::vector<double> sorted, double p);

// Times fn(stream) with CUDA events: opt.warmup untimed runs, then opt.iters timed runs, each
// preceded (outside the timed region) by an L2 overwrite unless opt.flush_l2 is false.
Stats time_cuda(const std::function<void(cudaStream_t)>& fn, const Options& opt,
                cudaStream_t stream = nullptr);

// Times a host function with the steady clock (CPU-side benchmarks: schedulers, simulators).
Stats time_host(const std::function<void()>& fn, const Options& opt);

struct Ceilings {
  double gemm_bf16_tflops = NAN;  // cuBLAS bf16 GEMM, fp32 accumulate, 8192^3, random inputs
  double copy_gbps = NAN;         // cudaMemcpy device-to-device of 2 GiB, bytes read + written
  Stats gemm_ms, copy_ms;         // the timings behind them
};
// Measured once per process on the current device and cached; NaN fields without a GPU.
const Ceilings& device_ceilings(const Options& opt);

struct Result {
  std::string name;
  nlohmann::json params = nlohmann::json::object();
  Stats ms;
  double flops = 0;         // floating-point (or integer) operations of one run
  double bytes = 0;         // the fewest bytes one run must move through device memory
  std::string check = "-";  // e.g. Comparison::str(), "skipped"
  bool check_ok = true;
  std::string baseline;     // what the paper compares against, e.g. "cuBLAS+softmax"
  double baseline_ms = NAN; // its median time, when measured here
  nlohmann::json extra = nlohmann::json::object();  // any other figures (memory, ratios)
};

class Report {
 public:
  Report(std::string bench_name, const Options& opt, int argc, char** argv);
  void add(Result r);
  const std::vector<Result>& results() const { return results_; }
  // The one-line result for results/REPORT.md: what we measured, and what the paper claims.
  void set_headline(std::string measured, std::string paper_claim);
  nlohmann::json to_json() const;
  std::string table() const;
  // Prints the table and a summary line, writes --json; returns 0, or 1 if any check failed.
  int finish();

 private:
  std::string name_;
  Options opt_;
  std::string cmdline_;
  std::vector<Result> results_;
  std::string headline_, paper_claim_;
};

// meta block shared by every JSON output: git sha, date, host, device, clocks, versions.
nlohmann::json run_metadata(const std::string& cmdline);

}  // namespace llmi::bench
