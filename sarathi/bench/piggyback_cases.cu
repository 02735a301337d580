// SARATHI's core claim on the GPU (§3, Fig. 3; Sarathi-Serve Table 2): per decoder layer, the
// time of a decode-only batch of B tokens, of a prefill chunk, and of the hybrid batch
// (C - B prefill + B decodes) whose linear layers are single GEMMs over C tokens. The marginal
// cost of a piggybacked decode, (T_hybrid(C-B, B) - T_prefill(C-B)) / B, is compared with the
// per-token cost of a decode-only batch, T_decode(B) / B, and split into linear / attention /
// other. Token counts 255/256/257 show tile quantization.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <set>

#include "../kernels/hybrid_layer.h"
#include "bench_cases.h"
#include "llmi/device.h"

namespace sarathi::bench {

namespace {

struct Parts {
  double linear = 0, attention = 0, other = 0, layer = 0;  // median us
};

}  // namespace

std::vector<std::pair<int, double>> run_piggyback(const std::string& preset, const BenchConfig& bc,
                                                  const llmi::bench::Options& opt,
                                                  llmi::bench::Report& report,
                                                  std::string& headline) {
  const ModelShape m = model_shape(preset);
  const CostModel anchors = h100_anchor_model(preset);
  const std::vector<int> Cs = opt.quick ? std::vector<int>{256, 512}
                                        : std::vector<int>{128, 256, 257, 512, 1024, 2048};
  const std::vector<int> Bs = opt.quick ? std::vector<int>{8, 64}
                                        : std::vector<int>{1, 8, 32, 64, 128, 255, 256};
  const int max_dec = *std::max_element(Bs.begin(), Bs.end());
  HybridLayer layer(m, 2048, max_dec, bc.decode_ctx, opt.seed);

  // Verify before timing: the hybrid batch's attention and its QKV GEMM against fp64.
  layer.set_batch(448, 64);
  layer.layer(nullptr);
  const llmi::Comparison ca = layer.check_attention(), cq = layer.check_qkv();
  const bool ok = ca.ok(2e-2) && cq.ok(1e-2);
  const std::string check = "attn " + ca.str() + "; qkv rel_l2=" + std::to_string(cq.rel_l2);
  std::printf("[%s] hybrid layer check (448 prefill + 64 decodes at ctx %d): %s %s\n",
              preset.c_str(), bc.decode_ctx, ok ? "PASSED" : "FAILED", check.c_str());

  auto time_us = [&](const std::function<void(cudaStream_t)>& fn) {
    return llmi::bench::time_cuda(fn, opt).median * 1e3;
  };
  // Linear layers depend only on the token count: one sweep over every M needed.
  std::set<int> Ms = {1, 8, 32, 64, 128, 192, 255, 256, 257, 384, 512, 1024, 2048};
  for (int C : Cs)
    for (int B : Bs)
      if (B < C) Ms.insert(B), Ms.insert(C), Ms.insert(C - B);
  std::map<int, double> lin;
  std::vector<std::pair<int, double>> table;
  for (int M : Ms) {
    layer.set_batch(M, 0);
    llmi::bench::Result r;
    r.name = preset + "/linear M=" + std::to_string(M);
    r.params = {{"model", preset}, {"tokens", M}};
    r.ms = llmi::bench::time_cuda([&](cudaStream_t s) { layer.linear(s); }, opt);
    r.flops = HybridLayer::linear_flops(m, M);
    r.bytes = m.weight_bytes() / m.layers;  // roughly: the layer's weights, streamed once
    r.check = check, r.check_ok = ok;
    r.baseline = "anchors (PyTorch/cuBLAS, H100)";
    for (auto [am, aus] : anchors.linear_us)
      if (am == M) r.baseline_ms = aus / 1e3;
    lin[M] = r.ms.median * 1e3;
    std::printf("[%s] linear M=%d: %.1f us (%.0f TFLOP/s)\n", preset.c_str(), M, lin[M],
                r.flops / (lin[M] * 1e-6) / 1e12);
    table.emplace_back(M, lin[M]);
    report.add(r);
  }
  auto parts = [&](int prefill, int decodes) {
    layer.set_batch(prefill, decodes);
    Parts p;
    p.linear = lin.at(prefill + decodes);
    p.attention = time_us([&](cudaStream_t s) { layer.attention(s); });
    p.other = time_us([&](cudaStream_t s) { layer.other(s); });
    p.layer = time_us([&](cudaStream_t s) { layer.layer(s); });
    return p;
  };
  auto add = [&](const std::string& kind, int prefill, int decodes, const Parts& p) {
    llmi::bench::Result r;
    r.name = preset + "/" + kind + " P=" + std::to_string(prefill) + " B=" + std::to_string(decodes);
    r.params = {{"model", preset}, {"prefill", prefill}, {"decodes", decodes},
                {"decode_ctx", bc.decode_ctx}};
    r.ms.n = opt.iters, r.ms.median = p.layer / 1e3;
    r.flops = HybridLayer::linear_flops(m, prefill + decodes);
    r.check = check, r.check_ok = ok;
    r.extra = {{"linear_us", p.linear}, {"attention_us", p.attention}, {"other_us", p.other}};
    report.add(r);
  };
  std::map<int, Parts> decode, prefill;
  for (int B : Bs) add("decode", 0, B, decode[B] = parts(0, B));
  std::printf("\n[%s] piggyback per decoder layer (decodes at ctx %d), us per decode token\n",
              preset.c_str(), bc.decode_ctx);
  std::printf("%6s %5s %12s %12s %7s | marginal: %8s %8s %8s | hybrid us\n", "C", "B",
              "decode-only", "piggyback", "ratio", "linear", "attn", "other");
  double best = 0;
  std::string best_case;
  for (int C : Cs)
    for (int B : Bs) {
      if (B >= C) continue;
      if (!prefill.count(C - B)) add("prefill", C - B, 0, prefill[C - B] = parts(C - B, 0));
      const Parts h = parts(C - B, B), &pf = prefill[C - B], &d = decode[B];
      add("hybrid", C - B, B, h);
      const double piggy = (h.layer - pf.layer) / B, alone = d.layer / B;
      std::printf("%6d %5d %12.2f %12.2f %6.1fx | %18.2f %8.2f %8.2f | %8.1f\n", C, B, alone,
                  piggy, alone / piggy, (h.linear - pf.linear) / B,
                  (h.attention - pf.attention) / B, (h.other - pf.other) / B, h.layer);
      if (alone / piggy > best) {
        best = alone / piggy;
        char buf[160];
        std::snprintf(buf, sizeof buf, "C=%d B=%d: %.2f vs %.2f us/token", C, B, piggy, alone);
        best_case = buf;
      }
    }
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "%s layer on %s: a piggybacked decode costs up to %.1fx less than a decode-only "
                "one (%s, ctx %d); linear M=256 %.0f us vs M=257 %.0f us. ",
                preset.c_str(), llmi::device_info().name.c_str(), best, best_case.c_str(),
                bc.decode_ctx, lin.at(256), lin.at(257));
  headline += buf;
  return table;
}

}  // namespace sarathi::bench
