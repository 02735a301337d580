// Serving simulation section of the benchmark: the four KV policies at equal memory on the
// ShareGPT-like workload (vLLM paper §6.2, Fig. 2 and Fig. 12/13's batched-requests result).
#include <algorithm>
#include <cmath>
#include <memory>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>

#include "bench_cases.h"
#include "llmi/device_buffer.h"
#include "llmi/random.h"
#include "paged_attention.h"

namespace paged::bench {

CostFn make_gpu_cost(const ModelCost& m, int64_t capacity_tokens, int block_size) {
  // One layer's KV pool at the model's shape; every iteration's decode batch gets blocks from a
  // shuffled permutation of it (the scatter a long-running paged cache ends up with). Reserving
  // policies can need a few more partial blocks than the pool has; those wrap around (timing
  // only, the values are random anyway).
  struct State {
    KvCache c;
    llmi::DeviceBuffer<uint8_t> k, v, flush;
    llmi::DeviceBuffer<uint16_t> q, out;
    llmi::DeviceBuffer<int32_t> tables, lens;
    llmi::DeviceBuffer<float> ws;
    std::vector<int32_t> perm;
    cudaEvent_t start{}, stop{};
  };
  auto st = std::make_shared<State>();
  LLMI_REQUIRE(m.head_dim == kHeadDim, "GPU cost needs head dim " << kHeadDim);
  st->c.num_blocks = int(capacity_tokens / block_size);
  st->c.kv_heads = m.kv_heads;
  st->c.block_size = block_size;
  st->k = llmi::DeviceBuffer<uint8_t>(size_t(st->c.num_blocks) * st->c.block_bytes());
  st->v = llmi::DeviceBuffer<uint8_t>(st->k.size());
  st->c.k = st->k.data();
  st->c.v = st->v.data();
  llmi::fill_uniform_device(st->c.k, llmi::DType::BF16, st->k.size() / 2, 1, -1, 1);
  llmi::fill_uniform_device(st->c.v, llmi::DType::BF16, st->v.size() / 2, 2, -1, 1);
  st->perm.resize(size_t(st->c.num_blocks));
  std::iota(st->perm.begin(), st->perm.end(), 0);
  std::shuffle(st->perm.begin(), st->perm.end(), std::mt19937(7));
  st->flush = llmi::DeviceBuffer<uint8_t>(size_t(128) << 20);  // > L2: other layers' traffic
  LLMI_CUDA_CHECK(cudaEventCreate(&st->start));
  LLMI_CUDA_CHECK(cudaEventCreate(&st->stop));
  const int q_heads = m.hidden / m.head_dim;
  return [st, m, q_heads, block_size](const IterationShape& it) {
    if (it.decode_context.empty()) return iteration_seconds(m, it, 0.0);
    const int n = int(it.decode_context.size());
    const int max_ctx = *std::max_element(it.decode_context.begin(), it.decode_context.end());
    const int max_blocks = (max_ctx + block_size - 1) / block_size;
    std::vector<int32_t> tables(size_t(n) * max_blocks, 0);
    size_t next = 0;
    for (int s = 0; s < n; ++s)
      for (int j = 0; j < (it.decode_context[size_t(s)] + block_size - 1) / block_size; ++j)
        tables[size_t(s) * max_blocks + size_t(j)] = st->perm[next++ % st->perm.size()];
    if (st->tables.size() < tables.size()) st->tables = llmi::DeviceBuffer<int32_t>(tables.size() * 2);
    if (st->lens.size() < size_t(n)) st->lens = llmi::DeviceBuffer<int32_t>(size_t(n) * 2);
    if (st->q.size() < size_t(n) * q_heads * kHeadDim) {
      st->q = llmi::DeviceBuffer<uint16_t>(size_t(n) * 2 * q_heads * kHeadDim);
      st->out = llmi::DeviceBuffer<uint16_t>(st->q.size());
      llmi::fill_uniform_device(st->q.data(), llmi::DType::BF16, st->q.size(), 3, -1, 1);
    }
    st->tables.copy_from_host(tables.data(), tables.size());
    st->lens.copy_from_host(it.decode_context.data(), size_t(n));
    DecodeArgs a;
    a.q = st->q.data();
    a.out = st->out.data();
    a.block_tables = st->tables.data();
    a.context_lens = st->lens.data();
    a.num_seqs = n;
    a.q_heads = q_heads;
    a.max_blocks_per_seq = max_blocks;
    a.max_context_len = max_ctx;
    a.scale = 1.0f / std::sqrt(float(kHeadDim));
    st->flush.poison(0x5a);
    LLMI_CUDA_CHECK(cudaEventRecord(st->start));
    paged_decode(a, st->c, st->ws);
    LLMI_CUDA_CHECK(cudaEventRecord(st->stop));
    LLMI_CUDA_CHECK(cudaEventSynchronize(st->stop));
    float ms = 0;
    LLMI_CUDA_CHECK(cudaEventElapsedTime(&ms, st->start, st->stop));
    return iteration_seconds(m, it, double(ms) * 1e-3 * m.layers);
  };
}

namespace {

llmi::bench::Result sim_result(const SimResult& r, const SimConfig& c, const WorkloadConfig& w,
                               const llmi::bench::Stats& host, bool gpu) {
  llmi::bench::Result res;
  res.name = std::string("sim ") + r.policy + (w.rate_per_s > 0 ? " rate " + std::to_string(int(w.rate_per_s)) : " burst");
  res.params = {{"policy", r.policy}, {"kv_capacity_tokens", c.kv_capacity_tokens}, {"block_size", c.block_size},
                {"requests", w.num_requests}, {"rate_per_s", w.rate_per_s}, {"attention_cost", gpu ? "measured kernel" : "model"}};
  res.ms = host;  // wall time of the simulation itself
  res.extra = {{"kv_waste", r.waste()}, {"token_states", r.token_states}, {"reserved_unused", r.reserved_unused},
               {"unreserved", r.unreserved}, {"reserved_waste", r.reserved_waste},
               {"pressure_time_frac", r.pressure_time_frac}, {"mean_batch", r.mean_batch},
               {"throughput_req_s", r.throughput_req_s}, {"output_tok_s", r.output_tok_s},
               {"mean_norm_latency_s", r.mean_norm_latency_s}, {"preemptions", r.preemptions},
               {"swap_outs", r.swap_outs}, {"cpu_swap_tokens", c.cpu_swap_tokens},
               {"iterations", r.iterations}};
  res.check = "simulated";
  return res;
}

}  // namespace

SimSummary run_serving_sim(llmi::bench::Report& report, const llmi::bench::Options& opt, const SimOptions& s) {
  ModelCost m;
  const double kv_bytes = (s.kv_gib > 0 ? s.kv_gib : 40.0) * double(1ull << 30);
  SimConfig cfg;
  cfg.kv_capacity_tokens = int64_t(kv_bytes / m.kv_bytes_per_token());
  CostFn cost = s.gpu_attention ? make_gpu_cost(m, cfg.kv_capacity_tokens, cfg.block_size)
                                : CostFn([m](const IterationShape& it) { return iteration_seconds(m, it); });
  std::printf("\nServing simulation: %s, KV memory %.1f GiB = %lld tokens (%s, %.0f KiB/token), block %d, "
              "max %d seqs, decode attention %s\n  workload: %s\n",
              m.name.c_str(), kv_bytes / double(1ull << 30), (long long)cfg.kv_capacity_tokens, m.name.c_str(),
              m.kv_bytes_per_token() / 1024, cfg.block_size, cfg.max_num_seqs,
              s.gpu_attention ? "timed with paged_decode on this GPU" : "from the roofline cost model",
              describe(s.workload).c_str());
  std::printf("waste/tokens/resv-used/unresv: shares of KV capacity while memory-bound (%s if never);\n"
              "resv waste: (reserved - used) / reserved over the whole run\n", "n/a");
  std::printf("%-12s %7s %8s %9s %8s %10s %7s %8s %9s %9s %8s %8s\n", "policy", "waste", "tokens", "resv-used", "unresv",
              "resv waste", "batch", "req/s", "out tok/s", "norm lat", "preempt", "x batch");
  SimSummary sum;
  const auto reqs = make_workload(s.workload);
  // The last row: paged with swap preemption to a 4 GiB CPU pool (vLLM's default swap space).
  const int64_t swap_tokens = int64_t(4.0 * double(1ull << 30) / m.kv_bytes_per_token());
  struct Run { KvPolicy p; bool swap; };
  for (Run run : {Run{KvPolicy::Paged, false}, Run{KvPolicy::OrcaOracle, false}, Run{KvPolicy::OrcaPow2, false},
                  Run{KvPolicy::OrcaMax, false}, Run{KvPolicy::Paged, true}}) {
    const KvPolicy p = run.p;
    cfg.policy = p;
    cfg.swap_preemption = run.swap;
    cfg.cpu_swap_tokens = run.swap ? swap_tokens : 0;
    SimResult r;
    llmi::bench::Options once = opt;
    once.warmup = 0;
    once.iters = 1;
    const llmi::bench::Stats host = llmi::bench::time_host([&] { r = simulate(cfg, reqs, cost); }, once);
    if (run.swap) r.policy += "+swap";
    if (p == KvPolicy::Paged && !run.swap) sum.paged = r;
    if (p == KvPolicy::OrcaOracle) sum.oracle = r;
    if (p == KvPolicy::OrcaPow2) sum.pow2 = r;
    if (p == KvPolicy::OrcaMax) sum.max = r;
    auto pct = [&](double x) {
      char b[16];
      std::snprintf(b, sizeof b, "%.1f%%", 100 * x);
      return r.pressure_time_frac > 0 ? std::string(b) : std::string("n/a");
    };
    std::printf("%-12s %7s %8s %9s %8s %9.1f%% %7.1f %8.2f %9.0f %8.3fs %8d %7.2fx\n", r.policy.c_str(),
                pct(r.waste()).c_str(), pct(r.token_states).c_str(), pct(r.reserved_unused).c_str(),
                pct(r.unreserved).c_str(), 100 * r.reserved_waste, r.mean_batch, r.throughput_req_s,
                r.output_tok_s, r.mean_norm_latency_s, r.preemptions, sum.paged.mean_batch / r.mean_batch);
    report.add(sim_result(r, cfg, s.workload, host, s.gpu_attention));
  }
  return sum;
}

}  // namespace paged::bench
