#include "hybrid_layer.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "llmi/llama/kernels.h"
#include "llmi/check.h"
#include "llmi/cpu_ref.h"
#include "llmi/device_buffer.h"
#include "llmi/dtype.h"
#include "llmi/random.h"

namespace sarathi {

using llmi::DeviceBuffer;
namespace K = llmi::llama::kernels;
using bf16 = K::bf16_t;

struct HybridLayer::Impl {
  ModelShape m;
  int max_tokens, max_decodes, ctx, Q, KV, max_ctx;
  cublasHandle_t blas = nullptr;
  K::KvLayout kv{};
  // Weights, nn.Linear layout [out, in], bf16.
  DeviceBuffer<bf16> wqkv, wo, wgu, wdown;  // [Q+2KV, H], [H, Q], [2I, H], [H, I]
  DeviceBuffer<float> norm_w;               // [H] (both norms share it)
  // Activations for up to max_tokens rows.
  DeviceBuffer<float> resid;                 // [T, H] fp32 residual stream
  DeviceBuffer<bf16> xn, qkv, q, att, o, gu, act, down;  // [T, H] [T, Q+2KV] [T, Q] [T, Q] ...
  DeviceBuffer<bf16> k_cache, v_cache;       // [max_seqs, max_ctx, kv_heads, D]
  // The runtime attention's split-K scratch: partial softmax states and arrival counters.
  DeviceBuffer<float> attn_partial;          // [attention_scratch_floats(D)]
  DeviceBuffer<int> attn_counters;           // [kAttnTargetBlocks], zero between launches
  // Step metadata (device): see kernels::StepMeta.
  DeviceBuffer<int> meta;
  DeviceBuffer<uint8_t> no_mask;
  K::StepMeta sm{};
  std::vector<int> h_old_len, h_n_new;

  void gemm(const bf16* x, const bf16* w, bf16* y, int T, int N, int Kd, cudaStream_t s) {
    // Row-major y[T, N] = x[T, K] w[N, K]^T, i.e. column-major y^T = w^T x^T.
    const float one = 1, zero = 0;
    LLMI_CUBLAS_CHECK(cublasSetStream(blas, s));
    LLMI_CUBLAS_CHECK(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, N, T, Kd, &one, w, CUDA_R_16BF,
                                   Kd, x, CUDA_R_16BF, Kd, &zero, y, CUDA_R_16BF, N,
                                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }
};

double HybridLayer::linear_flops(const ModelShape& m, int T) {
  const double H = m.hidden, Q = double(m.heads) * m.head_dim, KV = double(m.kv_heads) * m.head_dim;
  return 2.0 * T * (H * (Q + 2 * KV) + Q * H + 3.0 * H * m.intermediate);
}

HybridLayer::HybridLayer(const ModelShape& m, int max_tokens, int max_decodes, int decode_ctx,
                         uint64_t seed)
    : p_(new Impl) {
  Impl& p = *p_;
  LLMI_REQUIRE(max_tokens > 0 && max_decodes >= 0 && decode_ctx > 0,
               "hybrid layer: bad sizes " << max_tokens << ", " << max_decodes << ", "
                                          << decode_ctx);
  p.m = m, p.max_tokens = max_tokens, p.max_decodes = max_decodes, p.ctx = decode_ctx;
  p.Q = m.heads * m.head_dim, p.KV = m.kv_heads * m.head_dim;
  p.max_ctx = std::max(max_tokens, decode_ctx + 1);
  p.kv = {max_decodes + 1, p.max_ctx, m.kv_heads, m.head_dim};
  const size_t H = size_t(m.hidden), I = size_t(m.intermediate), T = size_t(max_tokens);
  const size_t Q = size_t(p.Q), KVd = size_t(p.KV);
  LLMI_CUBLAS_CHECK(cublasCreate(&p.blas));
  auto weights = [&](DeviceBuffer<bf16>& b, size_t out, size_t in, uint64_t salt) {
    b = DeviceBuffer<bf16>(out * in);
    const float a = std::sqrt(3.0f / float(in));  // variance 1/fan_in keeps activations O(1)
    llmi::fill_uniform_device(b.data(), llmi::DType::BF16, b.size(), seed + salt, -a, a);
  };
  weights(p.wqkv, Q + 2 * KVd, H, 1), weights(p.wo, H, Q, 2);
  weights(p.wgu, 2 * I, H, 3), weights(p.wdown, H, I, 4);
  p.norm_w = DeviceBuffer<float>(H);
  llmi::fill_uniform_device(p.norm_w.data(), llmi::DType::F32, H, seed + 5, 0.5f, 1.0f);
  p.resid = DeviceBuffer<float>(T * H);
  llmi::fill_uniform_device(p.resid.data(), llmi::DType::F32, T * H, seed + 6, -1.0f, 1.0f);
  p.xn = DeviceBuffer<bf16>(T * H), p.qkv = DeviceBuffer<bf16>(T * (Q + 2 * KVd));
  p.q = DeviceBuffer<bf16>(T * Q), p.att = DeviceBuffer<bf16>(T * Q), p.o = DeviceBuffer<bf16>(T * H);
  p.gu = DeviceBuffer<bf16>(T * 2 * I), p.act = DeviceBuffer<bf16>(T * I);
  p.down = DeviceBuffer<bf16>(T * H);
  const size_t cache = size_t(p.kv.max_seqs) * p.kv.seq_stride();
  p.k_cache = DeviceBuffer<bf16>(cache), p.v_cache = DeviceBuffer<bf16>(cache);
  // Random K/V stand in for the decodes' cached prefixes (values in [-1, 1)).
  llmi::fill_uniform_device(p.k_cache.data(), llmi::DType::BF16, cache, seed + 7, -1.0f, 1.0f);
  llmi::fill_uniform_device(p.v_cache.data(), llmi::DType::BF16, cache, seed + 8, -1.0f, 1.0f);
  p.no_mask = DeviceBuffer<uint8_t>(1);
  p.attn_partial = DeviceBuffer<float>(K::attention_scratch_floats(m.head_dim));
  p.attn_counters = DeviceBuffer<int>(K::kAttnTargetBlocks);
  LLMI_CUDA_CHECK(cudaMemset(p.attn_counters.data(), 0, p.attn_counters.bytes()));
}

HybridLayer::~HybridLayer() {
  if (p_ && p_->blas) cublasDestroy(p_->blas);
}

void HybridLayer::set_batch(int prefill, int decodes) {
  Impl& p = *p_;
  const int T = prefill + decodes;
  LLMI_REQUIRE(T > 0 && T <= p.max_tokens && decodes <= p.max_decodes && prefill >= 0,
               "hybrid layer: batch of " << prefill << " prefill + " << decodes
                                         << " decodes exceeds " << p.max_tokens << " tokens / "
                                         << p.max_decodes << " decodes");
  prefill_ = prefill, decodes_ = decodes;
  // Chunks: the prefill (sequence slot max_decodes, a fresh sequence) first, then the decodes
  // (slots 0..B-1, each with ctx cached rows). Token t of the batch belongs to chunk tok_chunk[t].
  const int C = (prefill > 0) + decodes;
  std::vector<int> tokens(size_t(T), 0), pos, tok_chunk, tok_row, seq, old_len, n_new, mask_off,
      out_rows;
  if (prefill > 0) {
    seq.push_back(p.max_decodes), old_len.push_back(0), n_new.push_back(prefill);
    for (int i = 0; i < prefill; ++i) pos.push_back(i), tok_chunk.push_back(0), tok_row.push_back(i);
  }
  for (int d = 0; d < decodes; ++d) {
    seq.push_back(d), old_len.push_back(p.ctx), n_new.push_back(1);
    pos.push_back(p.ctx), tok_chunk.push_back(int(seq.size()) - 1), tok_row.push_back(0);
  }
  mask_off.assign(size_t(C), -1);
  out_rows.assign(size_t(T), 0);
  std::vector<int> all;
  std::vector<size_t> off;
  for (auto* v : {&tokens, &pos, &tok_chunk, &tok_row, &seq, &old_len, &n_new, &mask_off, &out_rows}) {
    off.push_back(all.size());
    all.insert(all.end(), v->begin(), v->end());
  }
  p.meta = DeviceBuffer<int>(all);
  const int* b = p.meta.data();
  p.sm = {b + off[0], b + off[1], b + off[2], b + off[3], b + off[4], b + off[5], b + off[6],
          b + off[7], p.no_mask.data(), b + off[8]};
  p.h_old_len = old_len, p.h_n_new = n_new;
}

void HybridLayer::linear(cudaStream_t s) {
  Impl& p = *p_;
  const int T = tokens(), H = p.m.hidden, I = p.m.intermediate;
  p.gemm(p.xn.data(), p.wqkv.data(), p.qkv.data(), T, p.Q + 2 * p.KV, H, s);
  p.gemm(p.att.data(), p.wo.data(), p.o.data(), T, H, p.Q, s);
  p.gemm(p.xn.data(), p.wgu.data(), p.gu.data(), T, 2 * I, H, s);
  p.gemm(p.act.data(), p.wdown.data(), p.down.data(), T, H, I, s);
}

void HybridLayer::attention(cudaStream_t s) {
  Impl& p = *p_;
  // Grid (T, Hq, splits) inside the runtime's kernel (flash-decoding split-K over the keys).
  K::attention(p.q.data(), p.k_cache.data(), p.v_cache.data(), p.sm, p.kv, p.att.data(),
               {p.attn_partial.data(), p.attn_counters.data()}, tokens(), p.m.heads, s);
}

void HybridLayer::other(cudaStream_t s) {
  Impl& p = *p_;
  const int T = tokens(), H = p.m.hidden;
  K::add_rmsnorm(p.resid.data(), nullptr, nullptr, p.norm_w.data(), p.xn.data(), nullptr, nullptr,
                 T, H, 1e-5f, s);
  // RoPE + append this step's K/V at each chunk's old_len (rewrites the same rows every run).
  K::rope_append(p.qkv.data(), nullptr, p.sm, p.q.data(), p.k_cache.data(), p.v_cache.data(), p.kv,
                 T, p.m.heads, 10000.0f, s);
  K::silu_mul(p.gu.data(), p.act.data(), T, p.m.intermediate, s);
  K::add_rmsnorm(p.resid.data(), nullptr, nullptr, p.norm_w.data(), p.xn.data(), nullptr, nullptr,
                 T, H, 1e-5f, s);
}

llmi::Comparison HybridLayer::check_attention() {
  Impl& p = *p_;
  const int T = tokens(), Hq = p.m.heads, Hkv = p.m.kv_heads, D = p.m.head_dim;
  // Fresh q, K/V for this step: run QKV + RoPE/append, poison the output, then attention.
  p.gemm(p.xn.data(), p.wqkv.data(), p.qkv.data(), T, p.Q + 2 * p.KV, p.m.hidden, nullptr);
  K::rope_append(p.qkv.data(), nullptr, p.sm, p.q.data(), p.k_cache.data(), p.v_cache.data(), p.kv,
                 T, Hq, 10000.0f, nullptr);
  p.att.poison();
  attention(nullptr);
  LLMI_CUDA_CHECK(cudaDeviceSynchronize());
  const auto q = p.q.to_host(), att = p.att.to_host();
  std::vector<int> rows;  // tokens to check: first and last prefill token, last decode
  if (prefill_ > 0) rows.push_back(0), rows.push_back(prefill_ - 1);
  if (decodes_ > 0) rows.push_back(T - 1);
  std::vector<double> out, ref;
  for (int t : rows) {
    const bool is_prefill = t < prefill_;
    const int seq = is_prefill ? p.max_decodes : t - prefill_;
    const int keys = is_prefill ? t + 1 : p.ctx + 1;  // causal: its chunk's rows up to itself
    std::vector<double> kd(size_t(keys) * Hkv * D), vd(kd.size()), qd(size_t(Hq) * D),
        od(size_t(Hq) * D);
    std::vector<bf16> kh(kd.size()), vh(kd.size());
    const size_t base = size_t(seq) * p.kv.seq_stride();
    LLMI_CUDA_CHECK(cudaMemcpy(kh.data(), p.k_cache.data() + base, kh.size() * 2, cudaMemcpyDeviceToHost));
    LLMI_CUDA_CHECK(cudaMemcpy(vh.data(), p.v_cache.data() + base, vh.size() * 2, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < kd.size(); ++i)
      kd[i] = llmi::bf16_bits_to_f32(kh[i]), vd[i] = llmi::bf16_bits_to_f32(vh[i]);
    for (int i = 0; i < Hq * D; ++i) qd[size_t(i)] = llmi::bf16_bits_to_f32(q[size_t(t) * Hq * D + i]);
    llmi::ref::attention(qd.data(), kd.data(), vd.data(), od.data(), 1, keys, Hq, Hkv, D,
                         1.0 / std::sqrt(double(D)), llmi::ref::full_mask());
    for (int i = 0; i < Hq * D; ++i) {
      out.push_back(llmi::bf16_bits_to_f32(att[size_t(t) * Hq * D + i]));
      ref.push_back(od[size_t(i)]);
    }
  }
  return llmi::compare(out, ref);
}

llmi::Comparison HybridLayer::check_qkv() {
  Impl& p = *p_;
  const int T = tokens(), H = p.m.hidden, N = p.Q + 2 * p.KV;
  p.qkv.poison();
  p.gemm(p.xn.data(), p.wqkv.data(), p.qkv.data(), T, N, H, nullptr);
  LLMI_CUDA_CHECK(cudaDeviceSynchronize());
  const auto x = p.xn.to_host(), w = p.wqkv.to_host(), y = p.qkv.to_host();
  std::vector<double> out, ref;
  for (int t : {0, T - 1})
    for (int n = 0; n < N; ++n) {
      double acc = 0;
      for (int k = 0; k < H; ++k)
        acc += double(llmi::bf16_bits_to_f32(x[size_t(t) * H + k])) *
               double(llmi::bf16_bits_to_f32(w[size_t(n) * H + k]));
      ref.push_back(acc);
      out.push_back(llmi::bf16_bits_to_f32(y[size_t(t) * N + n]));
    }
  return llmi::compare(out, ref);
}

}  // namespace sarathi
