// context_parallel_bench: ring attention (pass-KV, pass-Q) across N ranks against one rank, with
// the pass-KV / pass-Q heuristic (Alg. 5) fed by rates probed at startup.
//
//   one process, one thread per GPU:   ./context_parallel_bench --ranks 2
//   one process per GPU (Slurm / MPI): srun -n 2 ./context_parallel_bench   (GPU = --device, else
//                                      the process's rank on its node; threads mode uses 0..N-1)
//   no GPU (or too few): says so, runs the CPU ring at a small size, exits 0.
//
// Cases: full causal prefill at --seq-lens (Llama-3-8B attention: 32 q heads, 8 kv heads, head
// dim 128), and a partial-prefill grid at --partial-total tokens over several cache-miss rates.
// Per case: one rank's time (the baseline), each variant's time on N ranks, per-rank TFLOP/s
// (unmasked pairs * 4 * Hq * D / N / time), parallel efficiency t1 / (N * tN), the heuristic's
// choice and whether it was the faster one. Checked against fp64 before timing when the batch is
// small enough for the CPU reference (--max-check-tokens).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cpu_engine.h"
#include "heuristic.h"
#include "llmi/bench.h"
#include "llmi/device.h"
#include "rate_probe.h"
#include "ring_timing.h"
#include "thread_communicator.h"
#ifdef LLMI_CP_HAVE_MPI
#include "mpi_communicator.h"
#endif
#ifdef LLMI_CP_HAVE_NCCL
#include "../kernels/gpu_engine.h"
#include "llmi/nccl_check.h"
#include "nccl_communicator.h"
#ifdef LLMI_CP_HAVE_MPI
#include "nccl_mpi_bootstrap.h"
#endif
#endif

using namespace llmi;
using namespace llmi::cp;

namespace {

struct Args {
  llmi::bench::Options opt;
  int ranks = 2;  // threads mode; under MPI the world size
  std::vector<int> seq_lens{32768, 131072, 524288};
  int partial_total = 131072;
  std::vector<double> miss_rates{0.01, 0.025, 0.05, 0.10, 0.50};
  int q_heads = 32, kv_heads = 8, head_dim = 128;
  int cpu_tokens = 256;  // CPU fallback: full prefill length, partial grid total = 4x
  int max_check_tokens = 4096;
};

struct Launch {
  bool mpi = false;  // one process per rank
  bool gpu = false;
  int device = -1;   // MPI mode: --device when given (slurm/local_gpu.sh), else the local rank
  int world = 1;
  int rank = 0;      // this process's rank (0 in threads mode)
};

struct Case {
  std::string name;
  std::vector<SeqSpec> seqs;  // one sequence here; the ring handles fused batches alike
};

// CPU ranks compute in fp32, the precision of the GPU path's partials and merge.
struct CpuMaker {
  CpuEngine<float, float> operator()(const AttnShape& s) const { return CpuEngine<float, float>(s); }
};
#ifdef LLMI_CP_HAVE_NCCL
struct GpuMaker {
  cudaStream_t stream;
  GpuEngine operator()(const AttnShape& s) const { return GpuEngine(s, stream); }
};
#endif

// Runs fn(comm, make_engine) on N ranks: N threads, or N MPI processes (N = 1: rank 0 alone).
template <class Fn>
void on_ranks(const Launch& L, int N, Fn fn) {
  if (L.mpi) {
#ifdef LLMI_CP_HAVE_MPI
    MpiCommunicator world;
    LLMI_REQUIRE(N == world.size() || N == 1, "asked for " << N << " ranks under MPI with " << world.size());
    if (N == 1 && world.rank() != 0) return timing::barrier(world);
    MpiCommunicator comm(N == 1 ? MPI_COMM_SELF : MPI_COMM_WORLD);
    if (L.gpu) {
#ifdef LLMI_CP_HAVE_NCCL
      std::unique_ptr<GpuRank> g;
      if (N == 1) {
        ncclUniqueId id;
        LLMI_NCCL_CHECK(ncclGetUniqueId(&id));
        g = std::make_unique<GpuRank>(id, 0, 1, L.device >= 0 ? L.device : local_rank(world));
      } else {
        g = gpu_rank_from_mpi(comm, L.device);
      }
      fn(g->comm(), GpuMaker{g->stream()});
#endif
    } else {
      fn(comm, CpuMaker{});
    }
    if (N == 1) timing::barrier(world);
#endif
  } else if (L.gpu) {
#ifdef LLMI_CP_HAVE_NCCL
    run_gpu_threads(N, [&](GpuRank& g) { fn(g.comm(), GpuMaker{g.stream()}); });
#endif
  } else {
    run_ranks(N, [&](Communicator& c) { fn(c, CpuMaker{}); });
  }
}

std::string fmt(double v, int prec = 3) {
  std::ostringstream os;
  os.precision(prec);
  os << v;
  return os.str();
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"Context parallelism (arXiv 2411.01783): ring pass-KV / pass-Q attention over N ranks"};
  llmi::bench::add_options(app, a.opt);
  app.add_option("--ranks", a.ranks, "ranks in single-process mode (one thread per GPU); under MPI: the world size")
      ->check(CLI::Range(1, 64));
  app.add_option("--seq-lens", a.seq_lens, "full-prefill lengths (GPU)")->delimiter(',')->check(CLI::Range(1, 1 << 24));
  app.add_option("--partial-total", a.partial_total, "P + T of the partial-prefill grid (GPU)")->check(CLI::Range(2, 1 << 24));
  app.add_option("--miss-rates", a.miss_rates, "T / (P + T) of the partial-prefill grid")->delimiter(',')
      ->check(CLI::Range(1e-6, 1.0));
  app.add_option("--q-heads", a.q_heads, "query heads per rank")->check(CLI::Range(1, 256));
  app.add_option("--kv-heads", a.kv_heads, "KV heads per rank (GQA)")->check(CLI::Range(1, 256));
  app.add_option("--head-dim", a.head_dim, "head dim (GPU block: up to 128)")->check(CLI::Range(1, 256));
  app.add_option("--cpu-tokens", a.cpu_tokens, "CPU fallback: full-prefill length")->check(CLI::Range(8, 8192));
  app.add_option("--max-check-tokens", a.max_check_tokens, "check against fp64 only up to this many new tokens")
      ->check(CLI::Range(0, 1 << 20));
  CLI11_PARSE(app, argc, argv);
  if (a.q_heads % a.kv_heads != 0) {
    std::cerr << "--q-heads (" << a.q_heads << ") must be a multiple of --kv-heads (" << a.kv_heads << ")\n";
    return 2;
  }

  try {
    Launch L;
    if (app.count("--device")) L.device = a.opt.device;
#ifdef LLMI_CP_HAVE_MPI
    MpiSession mpi(&argc, &argv);
    {
      MpiCommunicator world;
      L.world = world.size();
      L.rank = world.rank();
      L.mpi = world.size() > 1;
    }
#endif
    const int N = L.mpi ? L.world : a.ranks;
    const bool main_rank = L.rank == 0;
    auto say = [&](const std::string& s) { if (main_rank) std::cout << s << std::endl; };

    // GPUs: one per rank, on this host (threads) or per process (MPI). Otherwise the CPU ring.
    std::string no_gpu;
    int visible = 0;
    if (!has_cuda_device()) no_gpu = "no CUDA device";
#ifndef LLMI_CP_HAVE_NCCL
    else no_gpu = "built without NCCL";
#endif
    if (no_gpu.empty() && cudaGetDeviceCount(&visible) == cudaSuccess && !L.mpi && visible < std::max(N, 2))
      no_gpu = std::to_string(visible) + " GPU(s) visible, the ring needs " + std::to_string(std::max(N, 2));
    L.gpu = no_gpu.empty();
    if (!L.gpu) {
      say("GPU cases skipped (" + no_gpu + "): running the CPU ring instead, " + std::to_string(N) + " " +
          (L.mpi ? "MPI processes" : "threads") + ", fp32, small sizes. Not a performance result.");
      a.opt.warmup = std::min(a.opt.warmup, 1);
      a.opt.iters = std::min(a.opt.iters, 3);
    }

    const AttnShape shape{a.q_heads, a.kv_heads, a.head_dim, 1.0 / std::sqrt(double(a.head_dim)), true};
    std::vector<Case> cases;
    const std::vector<int> full = L.gpu ? (a.opt.quick ? std::vector<int>{4096, 16384} : a.seq_lens)
                                        : std::vector<int>{a.opt.quick ? 64 : a.cpu_tokens};
    const int total = L.gpu ? (a.opt.quick ? 16384 : a.partial_total) : 4 * (a.opt.quick ? 64 : a.cpu_tokens);
    for (int S : full) cases.push_back({"full S=" + std::to_string(S), {{0, S}}});
    for (double m : a.miss_rates) {
      const int T = std::max(1, int(m * total));
      cases.push_back({"partial T=" + std::to_string(T) + " P=" + std::to_string(total - T), {{total - T, T}}});
    }

    // Startup probe of C and BW on the N-rank setup (paper footnote 2: achieved, not peak).
    MeasuredRates rates;
    on_ranks(L, N, [&](Communicator& comm, auto make) {
      auto eng = make(shape);
      const ProbeSize probe = L.gpu ? ProbeSize{4096, size_t(64) << 20, 3} : ProbeSize{64, size_t(1) << 20, 2};
      const MeasuredRates r = probe_rates(comm, eng, probe);
      if (L.mpi || comm.rank() == 0) rates = r;  // threads: one writer; MPI: every process
    });
    say("probed: C = " + fmt(rates.flops_per_s / 1e12) + " TFLOP/s per rank (attention block), BW = " +
        fmt(rates.bytes_per_s / 1e9) + " GB/s per ring link");

    llmi::bench::Report report("context_parallel_bench", a.opt, argc, argv);
    double headline_eff = -1;
    std::string headline_case;
    int right = 0, graded = 0;
    for (const Case& c : cases) {
      const double flops = timing::attention_flops(c.seqs, shape);
      timing::CaseTiming one;
      on_ranks(L, 1, [&](Communicator& comm, auto make) {
        auto eng = make(shape);
        const CpPlan plan = plan_prefill(c.seqs, KvPlacement::load_balanced({c.seqs[0].cached}, 1));
        one = timing::time_ring(comm, eng, plan, Variant::PassKV, a.opt, a.max_check_tokens);
      });
      llmi::bench::Result base;
      base.name = c.name + " 1 rank";
      base.ms = one.ms;
      base.flops = flops;
      base.check = one.checked ? one.verdict.str() : "unchecked (too large for the fp64 reference)";
      base.check_ok = !one.checked || one.verdict.ok(L.gpu ? 1e-2 : 1e-4);
      if (main_rank) report.add(base);
      if (N == 1) continue;

      const Choice choice = choose_variant(workload_of(c.seqs, N, shape, L.gpu ? 2.0 : 4.0), rates);
      double t[2] = {0, 0};
      for (Variant v : {Variant::PassKV, Variant::PassQ}) {
        timing::CaseTiming tn;
        on_ranks(L, N, [&](Communicator& comm, auto make) {
          auto eng = make(shape);
          // Cached KV as a previous load-balanced prefill of P tokens left it.
          const CpPlan plan = plan_prefill(c.seqs, KvPlacement::load_balanced({c.seqs[0].cached}, N));
          const timing::CaseTiming r = timing::time_ring(comm, eng, plan, v, a.opt, a.max_check_tokens);
          if (L.mpi || comm.rank() == 0) tn = r;
        });
        llmi::bench::Result r;
        r.name = c.name + " " + variant_name(v) + " N=" + std::to_string(N);
        r.ms = tn.ms;
        r.flops = flops / N;  // per-rank rate
        r.baseline = "1 rank";
        r.baseline_ms = one.ms.median;
        r.check = tn.checked ? tn.verdict.str() : "unchecked (too large for the fp64 reference)";
        r.check_ok = !tn.checked || tn.verdict.ok(L.gpu ? 1e-2 : 1e-4);
        const double eff = one.ms.median / (N * tn.ms.median);
        r.params = {{"T", c.seqs[0].fresh}, {"P", c.seqs[0].cached}, {"ranks", N}, {"variant", variant_name(v)},
                    {"q_heads", a.q_heads}, {"kv_heads", a.kv_heads}, {"head_dim", a.head_dim},
                    {"backend", L.gpu ? "nccl" : (L.mpi ? "mpi" : "threads")}};
        r.extra = {{"parallel_efficiency", eff}, {"heuristic_choice", variant_name(choice.variant)},
                   {"heuristic", choice.why()}};
        t[v == Variant::PassKV ? 0 : 1] = tn.ms.median;
        if (main_rank) report.add(r);
        if (v == Variant::PassKV && c.seqs[0].cached == 0) headline_eff = eff, headline_case = c.name;
      }
      const Variant faster = t[0] <= t[1] ? Variant::PassKV : Variant::PassQ;
      ++graded;
      right += faster == choice.variant;
      say(c.name + ": heuristic " + choice.why() + "; measured faster: " + variant_name(faster));
    }
    if (graded) say("heuristic picked the faster variant in " + std::to_string(right) + " of " + std::to_string(graded) + " cases");

    // Model (not a measurement): Eq. 2/3/5 with the probed rates, for more ranks.
    if (main_rank && rates.bytes_per_s < 1e300) {
      std::cout << "model with the probed C and BW (not measured): full prefill, predicted ms\n";
      for (int S : full)
        for (int n : {2, 4, 8}) {
          const RingTimes m = model_ring(workload_of({{0, S}}, n, shape, L.gpu ? 2.0 : 4.0), rates);
          std::cout << "  S=" << S << " N=" << n << ": pass-KV " << fmt(m.pass_kv * 1e3) << ", pass-Q "
                    << fmt(m.pass_q * 1e3) << " (attention per step " << fmt(m.attn_step * 1e3) << ", KV shard "
                    << fmt(m.kv_step * 1e3) << ")\n";
        }
    }
    if (main_rank) {
      report.set_headline(headline_eff < 0 ? std::string("not measured (one rank)")
                                           : "pass-KV parallel efficiency " + fmt(100 * headline_eff) + "% at " +
                                                 headline_case + " on " + std::to_string(N) + " " +
                                                 (L.gpu ? device_info().name : std::string("CPU ranks")),
                          "93% parallelization efficiency, 1M-token prefill, 128 H100s (paper §4.2.3)");
      return report.finish();
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "context_parallel_bench: " << e.what() << "\n";
#ifdef LLMI_CP_HAVE_MPI
    int init = 0, size = 1;
    MPI_Initialized(&init);
    if (init) MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size > 1) MPI_Abort(MPI_COMM_WORLD, 1);  // the other ranks would wait forever
#endif
    return 1;
  }
}
