// Per-batch time of one model replica as a function of the batch's composition (Sarathi-Serve
// §3.1: T = max(T_math, T_mem) per operation), so the schedulers can be compared without a GPU.
//
// Per decoder layer:
//   linear(T)    QKV + O + gate/up + down GEMMs over all T new tokens, interpolated from a table
//                of measured per-layer times at token counts M (defaults: the shared H100 anchors,
//                /work/shared/anchors/h100-2026-11-23.md, "Linear layers of one Llama decoder
//                layer"), which includes the weight-streaming floor and tile quantization.
//   attention    per chunk max(FLOPs / attn_tflops, KV bytes / hbm_gbps): a prefill chunk of n
//                tokens after `start` cached ones does 4 Hq D n (start + (n+1)/2) FLOPs and reads
//                the earlier chunks' KV; a decode reads its whole KV (2 Hkv D start bf16 values).
//   other        norms, RoPE, SiLU, residuals: other_fixed_us + T * other_bytes_per_token / hbm.
// Per batch: layers * (linear + attention + other) + lm head over the output rows + overhead_us.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "sarathi/scheduler.h"

namespace sarathi {

struct ModelShape {
  std::string name;
  int layers = 0, hidden = 0, heads = 0, kv_heads = 0, head_dim = 0, intermediate = 0, vocab = 0;
  double kv_bytes_per_token() const { return 2.0 * 2.0 * layers * kv_heads * head_dim; }  // bf16
  double weight_bytes() const;                                                          // bf16
};
ModelShape model_shape(const std::string& preset);  // llama2-7b, llama2-13b (common's presets)

struct LayerTime {
  double linear_us = 0, attention_us = 0, other_us = 0;
  double total() const { return linear_us + attention_us + other_us; }
};

struct CostModel {
  ModelShape model;
  std::vector<std::pair<int, double>> linear_us;  // (M tokens, us per layer), M increasing
  double attn_tflops = 276;        // prefill attention rate (anchors: flash, hd 128, causal 2k)
  double hbm_gbps = 2400;          // KV-read rate of decode attention (anchors: flash decode)
  double other_fixed_us = 8;       // per layer: ~6 small kernels (assumption)
  double other_bytes_per_token = 0;  // set from the shape: the elementwise ops' traffic
  double overhead_us = 300;        // per batch: sampling, scheduling, launch gaps (assumption)
  std::string source;              // where the linear table came from

  double linear_layer_us(int tokens) const;  // piecewise linear in M; linear past the table
  LayerTime layer(const Batch& b) const;     // one decoder layer
  double batch_ms(const Batch& b) const;     // the whole model
};

// The H100 anchors table for llama2-7b / llama2-13b shapes (measured 2026-11-23, PyTorch/cuBLAS).
CostModel h100_anchor_model(const std::string& preset);

// Batch of `decodes` decodes at context `ctx` each plus one prefill chunk of `chunk` tokens after
// `chunk_start` cached tokens: for tables and the SLO definition.
Batch synthetic_batch(int decodes, int ctx, int chunk, int chunk_start);

}  // namespace sarathi
