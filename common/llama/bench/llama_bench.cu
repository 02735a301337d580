// llama_bench: decode step time of the CUDA runtime at batch 1, 8, 32 on Llama-2-7B/13B-shaped
// random bf16 weights, against the memory floor; prefill tokens/s against the GEMM ceiling.
//
//   llama_bench                        # llama2-7b and llama2-13b, batches 1 8 32, context 512
//   llama_bench --presets llama2-7b --batches 1 --json out.json
//
// Decode floor: a step must read every weight once plus each sequence's cached K/V, so
//   floor_ms = (weight_bytes + B * context * layers * 2 * kv_dim * 2 B) / copy bandwidth,
// with the bandwidth measured here (device-to-device copy, bytes read + written). Step time is
// wall clock per step() call (metadata upload, all kernels, logits copy back, synchronise), the
// latency a decode loop sees. Batch-1 steps replay a CUDA graph. Steps of <= 8 tokens use the
// runtime's streaming GEMV; a batch-1 row with every linear layer on cuBLAS is the baseline.
// Prefill: one step of N prompt tokens; flops = 2 * N * (matrix params) + causal attention.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "llmi/bench.h"
#include "llmi/check.h"
#include "llmi/compare.h"
#include "llmi/device.h"
#include "llmi/llama/cuda_runtime.h"

using namespace llmi::llama;
namespace bench = llmi::bench;

namespace {

std::vector<int> some_tokens(int n, int salt, int vocab) {
  std::vector<int> t(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) t[size_t(i)] = int((uint64_t(i) * 7919 + uint64_t(salt) * 104729) % uint64_t(vocab));
  return t;
}

SeqChunk decode_chunk(int seq, int token) {
  SeqChunk c;
  c.seq_id = seq;
  c.tokens = {token};
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Llama runtime: decode step vs memory floor, prefill vs GEMM ceiling"};
  bench::Options opt;
  bench::add_options(app, opt);
  std::vector<std::string> presets = {"llama2-7b", "llama2-13b"};
  std::vector<int> batches = {1, 8, 32};
  int context = 512, prefill_tokens = 1024;
  app.add_option("--presets", presets, "model shapes (random weights)")
      ->check(CLI::IsMember(Config::preset_names()));
  app.add_option("--batches", batches, "decode batch sizes")->check(CLI::Range(1, 256));
  app.add_option("--context", context, "cached tokens per sequence during decode")
      ->check(CLI::Range(1, 8192));
  app.add_option("--prefill-tokens", prefill_tokens, "prompt tokens of the prefill step")
      ->check(CLI::Range(1, 8192));
  CLI11_PARSE(app, argc, argv);
  if (opt.quick) presets = {"llama2-7b"}, batches = {1}, context = 128, prefill_tokens = 256;

  bench::Report report("llama_bench", opt, argc, argv);
  if (!llmi::has_cuda_device()) {
    std::puts("llama_bench: no CUDA device: GPU cases skipped");
    return report.finish();
  }
  const bench::Ceilings& ceil = bench::device_ceilings(opt);
  std::string headline;
  for (const std::string& name : presets) {
    const Config cfg = Config::preset(name);
    int max_batch = 1;
    for (int b : batches) max_batch = std::max(max_batch, b);
    CudaOptions co;
    co.device = opt.device;
    co.max_seqs = max_batch;
    co.max_context = std::max(context, prefill_tokens) + opt.warmup + opt.iters + 8;
    co.max_step_tokens = std::max({prefill_tokens, context, max_batch});
    LLMI_REQUIRE(co.max_context <= cfg.max_positions,
                 "--context / --prefill-tokens too long for " << name << " (max positions "
                                                              << cfg.max_positions << ")");
    auto rt = make_cuda_runtime_random(cfg, opt.seed, co);
    const double wbytes = weight_bytes_bf16(cfg);

    // Prefill: one sequence, prefill_tokens in one step, logits for the last row.
    {
      SeqChunk c;
      c.seq_id = 0;
      c.tokens = some_tokens(prefill_tokens, 1, cfg.vocab_size);
      const StepOutput o = rt->step({c});
      size_t bad = 0;
      for (float v : o.logits) bad += !std::isfinite(v);
      const auto st = bench::time_host([&] { rt->truncate(0, 0), rt->step({c}); }, opt);
      bench::Result r;
      r.name = name + " prefill";
      r.params = {{"tokens", prefill_tokens}};
      r.ms = st;
      const double matrix_params = double(cfg.layers) * (double(cfg.hidden) * (2 * cfg.q_dim() + 2 * cfg.kv_dim()) +
                                                         3.0 * cfg.hidden * cfg.intermediate);
      const double attn = 2.0 * 2.0 * double(prefill_tokens) * prefill_tokens / 2 * cfg.q_dim() * cfg.layers;
      r.flops = 2.0 * prefill_tokens * matrix_params + attn + 2.0 * cfg.hidden * cfg.vocab_size;
      r.bytes = wbytes;
      r.check = bad ? "non-finite logits" : "logits finite";
      r.check_ok = bad == 0;
      r.baseline = "bf16 GEMM ceiling";
      r.extra["tokens_per_s"] = prefill_tokens / (st.median * 1e-3);
      r.extra["fraction_of_gemm_ceiling"] = r.flops / (st.median * 1e-3) / (ceil.gemm_bf16_tflops * 1e12);
      report.add(r);
    }

    // Fill every sequence's cache to `context` tokens.
    for (int s = 0; s < max_batch; ++s) {
      rt->reset(s);
      SeqChunk c;
      c.seq_id = s;
      c.tokens = some_tokens(context, 2 + s, cfg.vocab_size);
      c.rows = Rows::None;
      rt->step({c});
    }
    // Check the graph path: batch-1 decode (graph) vs the same step inside a 2-sequence batch.
    std::string check = "-";
    bool check_ok = true;
    if (max_batch >= 2) {
      const StepOutput g = rt->step({decode_chunk(0, 5)});
      rt->truncate(0, context);
      const StepOutput e = rt->step({decode_chunk(0, 5), decode_chunk(1, 5)});
      rt->truncate(0, context), rt->truncate(1, context);
      const std::vector<double> gd(g.logits.begin(), g.logits.end()),
          ed(e.logits.begin(), e.logits.begin() + cfg.vocab_size);
      const auto cmp = llmi::compare(gd, ed);
      check = "graph vs batched " + cmp.str();
      check_ok = cmp.ok(2e-2);
    }

    auto time_decode = [&](Runtime& runtime, int B) {
      std::vector<SeqChunk> batch;
      for (int s = 0; s < B; ++s) batch.push_back(decode_chunk(s, 7 + s));
      for (int s = 0; s < B; ++s) runtime.truncate(s, context);
      return bench::time_host([&] { runtime.step(batch); }, opt);
    };
    const double avg_ctx = context + (opt.warmup + opt.iters) / 2.0;
    auto decode_bytes = [&](int B) {
      return wbytes + double(B) * avg_ctx * cfg.layers * 2.0 * cfg.kv_dim() * 2.0;
    };
    bench::Stats gemv_b1;
    for (int B : batches) {
      const auto st = time_decode(*rt, B);
      if (B == 1) gemv_b1 = st;
      bench::Result r;
      r.name = name + " decode B=" + std::to_string(B);
      r.params = {{"batch", B}, {"context", context}};
      r.ms = st;
      r.bytes = decode_bytes(B);
      r.flops = 2.0 * B * (wbytes / 2.0);
      r.check = check;
      r.check_ok = check_ok;
      r.baseline = "memory floor";
      r.baseline_ms = r.bytes / (ceil.copy_gbps * 1e9) * 1e3;
      r.extra["fraction_of_floor"] = r.baseline_ms / st.median;
      r.extra["tokens_per_s"] = B / (st.median * 1e-3);
      report.add(r);
      if (name == "llama2-7b" && B == 1) {
        char buf[200];
        std::snprintf(buf, sizeof buf,
                      "Llama-2-7B-shaped bf16 batch-1 decode %.2f ms/token = %.0f%% of the memory "
                      "floor (%.2f ms at %.0f GB/s)",
                      st.median, 100.0 * r.baseline_ms / st.median, r.baseline_ms, ceil.copy_gbps);
        headline = buf;
      }
    }
    // Baseline: the same batch-1 decode with every linear layer on cuBLAS (no streaming GEMV).
    if (std::find(batches.begin(), batches.end(), 1) != batches.end()) {
      rt.reset();
      CudaOptions bo = co;
      bo.max_seqs = 1;
      bo.max_step_tokens = std::max(context, prefill_tokens);
      bo.small_batch_gemv = false;
      auto base = make_cuda_runtime_random(cfg, opt.seed, bo);
      SeqChunk c;
      c.tokens = some_tokens(context, 2, cfg.vocab_size);
      c.rows = Rows::None;
      base->step({c});
      const auto st = time_decode(*base, 1);
      bench::Result r;
      r.name = name + " decode B=1 cuBLAS";
      r.params = {{"batch", 1}, {"context", context}, {"linear", "cublas"}};
      r.ms = st;
      r.bytes = decode_bytes(1);
      r.flops = wbytes;
      r.check = "-";
      r.baseline = "streaming GEMV (this runtime)";
      r.baseline_ms = gemv_b1.median;
      r.extra["fraction_of_floor"] = r.bytes / (ceil.copy_gbps * 1e9) * 1e3 / st.median;
      report.add(r);
    }
  }
  if (!headline.empty()) report.set_headline(headline, "target: >= 85% of the memory floor");
  return report.finish();
}
