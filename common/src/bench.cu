#include <cublas_v2.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <numeric>
#include <sstream>

#include "llmi/bench.h"
#include "llmi/check.h"
#include "llmi/device_buffer.h"
#include "llmi/random.h"
#include "llmi_build_git_sha.h"  // generated: cmake/llmi_git_sha.cmake

namespace llmi::bench {

void add_options(CLI::App& app, Options& o) {
  app.add_option("--warmup", o.warmup, "untimed runs before timing")->check(CLI::Range(0, 100000));
  app.add_option("--iters", o.iters, "timed runs (the median is reported)")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--json", o.json, "write results and run metadata to this JSON file");
  app.add_option("--device", o.device, "CUDA device index")->check(CLI::Range(0, 63));
  app.add_option("--seed", o.seed, "seed for random inputs");
  app.add_flag("--check,!--no-check", o.check, "verify against the CPU reference before timing");
  app.add_flag("--quick", o.quick, "smallest sweep (smoke runs)");
  app.add_flag("--flush-l2,!--no-flush-l2", o.flush_l2, "overwrite L2 before each timed run");
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  double pos = p / 100.0 * double(v.size() - 1);
  size_t lo = size_t(pos);
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
}

Stats summarize(std::vector<double> s) {
  Stats st;
  st.n = int(s.size());
  if (s.empty()) return st;
  std::sort(s.begin(), s.end());
  st.min = s.front();
  st.median = percentile(s, 50);
  st.p10 = percentile(s, 10);
  st.p90 = percentile(s, 90);
  st.mean = std::accumulate(s.begin(), s.end(), 0.0) / double(s.size());
  return st;
}

namespace {
// Overwrites a buffer twice the size of L2 so a timed run cannot find its inputs cached.
class L2Flusher {
 public:
  L2Flusher() {
    int dev = 0, l2 = 0;
    LLMI_CUDA_CHECK(cudaGetDevice(&dev));
    LLMI_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
    buf_ = DeviceBuffer<unsigned char>(size_t(l2) * 2);
  }
  void flush(cudaStream_t s) { LLMI_CUDA_CHECK(cudaMemsetAsync(buf_.data(), 0x5a, buf_.bytes(), s)); }

 private:
  DeviceBuffer<unsigned char> buf_;
};

struct Event {
  cudaEvent_t e{};
  Event() { LLMI_CUDA_CHECK(cudaEventCreate(&e)); }
  ~Event() { cudaEventDestroy(e); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
};
}  // namespace

Stats time_cuda(const std::function<void(cudaStream_t)>& fn, const Options& opt,
                cudaStream_t stream) {
  std::unique_ptr<L2Flusher> flusher;
  if (opt.flush_l2) flusher = std::make_unique<L2Flusher>();
  for (int i = 0; i < opt.warmup; ++i) fn(stream);
  LLMI_CUDA_CHECK(cudaStreamSynchronize(stream));
  std::vector<std::unique_ptr<Event>> start(opt.iters), stop(opt.iters);
  for (int i = 0; i < opt.iters; ++i) {
    start[i] = std::make_unique<Event>();
    stop[i] = std::make_unique<Event>();
    if (flusher) flusher->flush(stream);
    LLMI_CUDA_CHECK(cudaEventRecord(start[i]->e, stream));
    fn(stream);
    LLMI_CUDA_CHECK(cudaEventRecord(stop[i]->e, stream));
  }
  LLMI_CUDA_CHECK(cudaStreamSynchronize(stream));
  std::vector<double> ms(opt.iters);
  for (int i = 0; i < opt.iters; ++i) {
    float t = 0;
    LLMI_CUDA_CHECK(cudaEventElapsedTime(&t, start[i]->e, stop[i]->e));
    ms[i] = t;
  }
  return summarize(ms);
}

Stats time_host(const std::function<void()>& fn, const Options& opt) {
  for (int i = 0; i < opt.warmup; ++i) fn();
  std::vector<double> ms(opt.iters);
  for (int i = 0; i < opt.iters; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    ms[i] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  return summarize(ms);
}

const Ceilings& device_ceilings(const Options& opt) {
  static std::optional<Ceilings> cached;
  if (cached) return *cached;
  cached = Ceilings{};
  if (!has_cuda_device()) return *cached;

  Options t = opt;
  t.warmup = std::max(3, std::min(opt.warmup, 10));
  t.iters = std::max(5, std::min(opt.iters, 20));
  t.flush_l2 = false;  // both inputs are far larger than L2 already

  // bf16 GEMM, fp32 accumulation, the shape the anchors use; random inputs (zeros run faster).
  const int n = 8192;
  DeviceBuffer<uint16_t> a(size_t(n) * n), b(size_t(n) * n), c(size_t(n) * n);
  fill_uniform_device(a.data(), DType::BF16, a.size(), opt.seed, -1, 1);
  fill_uniform_device(b.data(), DType::BF16, b.size(), opt.seed + 1, -1, 1);
  cublasHandle_t h;
  LLMI_CUBLAS_CHECK(cublasCreate(&h));
  const float alpha = 1, beta = 0;
  Stats g = time_cuda(
      [&](cudaStream_t s) {
        LLMI_CUBLAS_CHECK(cublasSetStream(h, s));
        LLMI_CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &alpha, a.data(),
                                       CUDA_R_16BF, n, b.data(), CUDA_R_16BF, n, &beta, c.data(),
                                       CUDA_R_16BF, n, CUBLAS_COMPUTE_32F,
                                       CUBLAS_GEMM_DEFAULT));
      },
      t);
  LLMI_CUBLAS_CHECK(cublasDestroy(h));
  cached->gemm_ms = g;
  cached->gemm_bf16_tflops = 2.0 * n * n * double(n) / (g.median * 1e-3) / 1e12;

  // Device-to-device copy of 2 GiB; each byte is read once and written once.
  const size_t bytes = size_t(2) << 30;
  DeviceBuffer<unsigned char> src(bytes), dst(bytes);
  LLMI_CUDA_CHECK(cudaMemset(src.data(), 1, bytes));
  Stats m = time_cuda(
      [&](cudaStream_t s) {
        LLMI_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), bytes, cudaMemcpyDeviceToDevice, s));
      },
      t);
  cached->copy_ms = m;
  cached->copy_gbps = 2.0 * double(bytes) / (m.median * 1e-3) / 1e9;
  return *cached;
}

namespace {
// The commit the binary was built from (cmake/llmi_git_sha.cmake), unless LLMI_GIT_SHA names one
// (copies of the tree without .git).
std::string git_sha() {
  if (const char* env = std::getenv("LLMI_GIT_SHA")) return env;
  return LLMI_BUILD_GIT_SHA;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string fmt(double v, int prec = 1) {
  if (std::isnan(v)) return "-";
  std::ostringstream os;
  os << std::fixed << std::setprecision(prec) << v;
  return os.str();
}
}  // namespace

nlohmann::json run_metadata(const std::string& cmdline) {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  DeviceInfo d = device_info();
  return {{"git_sha", git_sha()},
          {"date", utc_now()},
          {"host", host},
          {"gpu", d.name},
          {"compute_capability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor)},
          {"sm_count", d.sm_count},
          {"l2_bytes", d.l2_bytes},
          {"clocks_mhz", {{"sm", d.sm_clock_mhz}, {"mem", d.mem_clock_mhz}}},
          {"driver", d.driver_version},
          {"cuda_runtime", d.runtime_version},
          {"nccl", nccl_version()},
          {"cmdline", cmdline}};
}

Report::Report(std::string bench_name, const Options& opt, int argc, char** argv)
    : name_(std::move(bench_name)), opt_(opt) {
  for (int i = 0; i < argc; ++i) cmdline_ += (i ? " " : "") + std::string(argv[i]);
}

void Report::add(Result r) { results_.push_back(std::move(r)); }

void Report::set_headline(std::string measured, std::string paper_claim) {
  headline_ = std::move(measured);
  paper_claim_ = std::move(paper_claim);
}

nlohmann::json Report::to_json() const {
  const Ceilings& c = device_ceilings(opt_);
  nlohmann::json j;
  j["benchmark"] = name_;
  j["meta"] = run_metadata(cmdline_);
  if (!headline_.empty()) j["headline"] = {{"measured", headline_}, {"paper", paper_claim_}};
  j["ceilings"] = {{"gemm_bf16_tflops", std::isnan(c.gemm_bf16_tflops) ? nlohmann::json() : nlohmann::json(c.gemm_bf16_tflops)},
                   {"copy_gbps", std::isnan(c.copy_gbps) ? nlohmann::json() : nlohmann::json(c.copy_gbps)}};
  auto num = [](double v) { return std::isnan(v) ? nlohmann::json() : nlohmann::json(v); };
  j["results"] = nlohmann::json::array();
  for (const Result& r : results_) {
    nlohmann::json e = {{"case", r.name},
                        {"params", r.params},
                        {"n", r.ms.n},
                        {"time_ms", {{"median", num(r.ms.median)}, {"min", num(r.ms.min)},
                                     {"p10", num(r.ms.p10)}, {"p90", num(r.ms.p90)}}},
                        {"check", r.check},
                        {"check_ok", r.check_ok},
                        {"extra", r.extra}};
    if (r.flops > 0) e["tflops"] = r.flops / (r.ms.median * 1e-3) / 1e12;
    if (r.bytes > 0) e["gbps"] = r.bytes / (r.ms.median * 1e-3) / 1e9;
    if (!r.baseline.empty()) e["baseline"] = {{"name", r.baseline}, {"median_ms", num(r.baseline_ms)}};
    j["results"].push_back(e);
  }
  return j;
}

std::string Report::table() const {
  const Ceilings& c = device_ceilings(opt_);
  std::ostringstream os;
  os << std::left << std::setw(34) << "case" << std::right << std::setw(10) << "median_ms"
     << std::setw(10) << "p10" << std::setw(10) << "p90" << std::setw(9) << "TFLOP/s"
     << std::setw(7) << "%peak" << std::setw(9) << "GB/s" << std::setw(7) << "%bw"
     << std::setw(11) << "vs_base" << "  check\n";
  for (const Result& r : results_) {
    double tf = r.flops > 0 ? r.flops / (r.ms.median * 1e-3) / 1e12 : NAN;
    double gb = r.bytes > 0 ? r.bytes / (r.ms.median * 1e-3) / 1e9 : NAN;
    os << std::left << std::setw(34) << r.name << std::right << std::setw(10) << fmt(r.ms.median, 4)
       << std::setw(10) << fmt(r.ms.p10, 4) << std::setw(10) << fmt(r.ms.p90, 4) << std::setw(9)
       << fmt(tf) << std::setw(7) << fmt(100 * tf / c.gemm_bf16_tflops) << std::setw(9)
       << fmt(gb, 0) << std::setw(7) << fmt(100 * gb / c.copy_gbps) << std::setw(11)
       << (std::isnan(r.baseline_ms) ? "-" : fmt(r.baseline_ms / r.ms.median, 2) + "x") << "  "
       << (r.check_ok ? "" : "FAIL ") << r.check << "\n";
  }
  os << "ceilings: bf16 GEMM " << fmt(c.gemm_bf16_tflops) << " TFLOP/s, copy " << fmt(c.copy_gbps, 0)
     << " GB/s (measured on " << device_info().name << ")\n";
  return os.str();
}

int Report::finish() {
  std::cout << table();
  size_t failed = 0;
  for (const Result& r : results_) failed += !r.check_ok;
  std::cout << name_ << " checks: " << results_.size() - failed << " ok, " << failed
            << " wrong\n";
  if (!opt_.json.empty()) {
    std::ofstream f(opt_.json);
    LLMI_REQUIRE(f, "cannot write --json file '" << opt_.json << "'");
    f << to_json().dump(2) << "\n";
  }
  return failed ? 1 : 0;
}

}  // namespace llmi::bench
