#include "sarathi/cost_model.h"

#include <algorithm>

#include "llmi/check.h"
#include "llmi/llama/config.h"

namespace sarathi {

double ModelShape::weight_bytes() const {
  const double per_layer = double(hidden) * (heads + 2.0 * kv_heads) * head_dim +
                           double(hidden) * heads * head_dim + 3.0 * hidden * intermediate;
  return 2.0 * (layers * per_layer + 2.0 * double(vocab) * hidden);
}

ModelShape model_shape(const std::string& preset) {
  const llmi::llama::Config c = llmi::llama::Config::preset(preset);
  return {preset, c.layers, c.hidden, c.heads, c.kv_heads, c.head_dim, c.intermediate,
          c.vocab_size};
}

double CostModel::linear_layer_us(int tokens) const {
  LLMI_REQUIRE(linear_us.size() >= 2, "cost model: the linear table needs two points");
  if (tokens <= linear_us.front().first) return linear_us.front().second;
  // Past the table: extend its last segment (compute-bound, linear in tokens).
  size_t i = 1;
  while (i + 1 < linear_us.size() && linear_us[i].first < tokens) ++i;
  const auto [m0, t0] = linear_us[i - 1];
  const auto [m1, t1] = linear_us[i];
  return t0 + (t1 - t0) * double(tokens - m0) / double(m1 - m0);
}

LayerTime CostModel::layer(const Batch& b) const {
  const ModelShape& m = model;
  LayerTime t;
  const int T = b.num_tokens();
  if (T == 0) return t;
  t.linear_us = linear_layer_us(T);
  const double kv_row_bytes = 2.0 * 2.0 * m.kv_heads * m.head_dim;  // K and V, bf16
  for (const ScheduledChunk& c : b.chunks) {
    const double n = c.tokens, start = c.start;
    const double flops = 4.0 * m.heads * m.head_dim * n * (start + (n + 1) / 2);
    const double bytes = kv_row_bytes * (start + n);
    t.attention_us += std::max(flops / (attn_tflops * 1e6), bytes / (hbm_gbps * 1e3));
  }
  t.other_us = other_fixed_us + T * other_bytes_per_token / (hbm_gbps * 1e3);
  return t;
}

double CostModel::batch_ms(const Batch& b) const {
  if (b.empty()) return 0;
  int rows = 0;
  for (const ScheduledChunk& c : b.chunks) rows += c.emits;
  // LM head: a GEMV-like read of the [vocab, hidden] matrix, plus its FLOPs for many rows.
  const double lm_bytes = 2.0 * model.vocab * model.hidden;
  const double lm_us = std::max(lm_bytes / (hbm_gbps * 1e3),
                                2.0 * rows * model.vocab * model.hidden / (attn_tflops * 1e6));
  return (model.layers * layer(b).total() + lm_us + overhead_us) / 1e3;
}

CostModel h100_anchor_model(const std::string& preset) {
  CostModel cm;
  cm.model = model_shape(preset);
  const std::vector<int> M = {1, 8, 32, 64, 128, 192, 255, 256, 257, 384, 512, 1024, 2048};
  std::vector<double> us;
  if (preset == "llama2-7b")
    us = {154, 154, 159, 160, 164, 192, 189, 178, 197, 244, 287, 552, 1233};
  else if (preset == "llama2-13b")
    us = {227, 226, 228, 236, 250, 247, 266, 270, 270, 340, 453, 866, 1883};
  else
    throw llmi::Error("no H100 anchor table for '" + preset + "' (llama2-7b, llama2-13b)");
  for (size_t i = 0; i < M.size(); ++i) cm.linear_us.emplace_back(M[i], us[i]);
  // Elementwise traffic per token and layer, bf16: 2 norms (read+write hidden), RoPE on q and k,
  // residual adds, SiLU*up (read 2I, write I).
  cm.other_bytes_per_token = 2.0 * (6.0 * cm.model.hidden + 3.0 * cm.model.intermediate);
  cm.source = "H100 anchors 2026-11-23 (PyTorch/cuBLAS bf16 per-layer linears)";
  return cm;
}

Batch synthetic_batch(int decodes, int ctx, int chunk, int chunk_start) {
  Batch b;
  for (int i = 0; i < decodes; ++i) b.chunks.push_back({i, ctx, 1, true, true});
  b.decode_tokens = decodes;
  if (chunk > 0) {
    b.chunks.push_back({decodes, chunk_start, chunk, false, false});
    b.prefill_tokens = chunk;
  }
  return b;
}

}  // namespace sarathi
