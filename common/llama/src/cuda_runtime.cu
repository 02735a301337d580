// CUDA bf16 backend of the Runtime interface (see cuda_runtime.h).
//
// One step: upload the step's metadata (tokens, positions, chunk geometry, masks, output rows)
// in one copy; embed; per layer RMSNorm -> fused QKV GEMM -> RoPE + KV append -> attention ->
// O GEMM -> residual add + RMSNorm -> fused gate/up GEMM -> SiLU*up -> down GEMM -> residual
// add; final norm of the requested rows; LM head GEMM in fp32 out.
// The GEMMs run once over all new tokens of all sequences (SARATHI's fused batch).
// The layers' norm weights are folded into the columns of the GEMM that follows each norm, so
// a norm only divides by the row's rms. A decode step (<= 8 tokens) runs every linear layer as
// the GEMV of kernels.h and fuses the rest into it: the norm into the QKV and gate|up GEMVs,
// SiLU*up into gate|up, the residual add into O and down: 6 kernels per layer (QKV, RoPE,
// attention, O, gate|up, down).
#include <cublas_v2.h>

#include <algorithm>
#include <cstring>

#include "llmi/llama/kernels.h"
#include "llmi/check.h"
#include "llmi/device.h"
#include "llmi/device_buffer.h"
#include "llmi/llama/cuda_runtime.h"
#include "llmi/random.h"

namespace llmi::llama {

using kernels::bf16_t;

double weight_bytes_bf16(const Config& c) {
  const double per_layer = 2.0 * c.hidden * (c.q_dim() + c.kv_dim()) + 3.0 * c.hidden * c.intermediate;
  return 2.0 * (c.layers * per_layer + double(c.vocab_size) * c.hidden);  // + LM head
}

namespace {

struct LayerPtrs {
  // [Q+2KV, H] (attention norm weight folded in), [H, Q], [2I, H] (MLP norm weight folded in),
  // [H, I], [H] or null
  bf16_t *wqkv, *wo, *wgu, *wdown, *bo;
  float* bqkv;  // [Q+2KV] or null
};

class CudaRuntime final : public Runtime {
 public:
  CudaRuntime(const Config& cfg, const CudaOptions& opt) : cfg_(cfg), opt_(opt) {
    cfg_.validate();
    // The attention kernel gives each lane head_dim / 32 elements of a head (at most 8).
    LLMI_REQUIRE(cfg_.head_dim % 32 == 0 && cfg_.head_dim <= 256,
                 "cuda runtime: head dim " << cfg_.head_dim
                                           << " unsupported (need a multiple of 32, at most 256)");
    LLMI_REQUIRE(cfg_.hidden <= 8192 && cfg_.hidden % 8 == 0,
                 "cuda runtime: hidden size " << cfg_.hidden
                                              << " unsupported (need a multiple of 8, at most 8192)");
    LLMI_REQUIRE(cfg_.intermediate % kernels::kSwigluGroup == 0,
                 "cuda runtime: intermediate size " << cfg_.intermediate << " unsupported (need a multiple of "
                                                    << kernels::kSwigluGroup << ")");
    LLMI_REQUIRE(has_cuda_device(), "cuda runtime: no CUDA device available");
    LLMI_CUDA_CHECK(cudaSetDevice(opt.device));
    LLMI_REQUIRE(opt.max_seqs > 0 && opt.max_step_tokens > 0,
                 "cuda runtime: max_seqs and max_step_tokens must be positive");
    max_ctx_ = opt.max_context > 0 ? std::min(opt.max_context, cfg_.max_positions) : cfg_.max_positions;
    LLMI_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    LLMI_CUBLAS_CHECK(cublasCreate(&blas_));
    LLMI_CUBLAS_CHECK(cublasSetStream(blas_, stream_));
    workspace_ = DeviceBuffer<char>(32u << 20);  // fixed workspace: required for graph capture
    LLMI_CUBLAS_CHECK(cublasSetWorkspace(blas_, workspace_.data(), workspace_.size()));
    lengths_.assign(size_t(opt.max_seqs), 0);
    allocate();
  }

  ~CudaRuntime() override {
    if (graph_exec_) cudaGraphExecDestroy(graph_exec_);
    if (meta_host_) cudaFreeHost(meta_host_);
    if (blas_) cublasDestroy(blas_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  // Weights from the host (rounded to bf16), fused: q|k|v rows, and gate|up rows interleaved in
  // groups of kernels::kSwigluGroup (kernels.h) so the decode GEMV can finish SwiGLU in its tile.
  // Each layer's norm weight is folded into the columns of the GEMM after it, in fp32 before
  // the rounding: RMSNorm(x) W^T = (x / rms(x)) (W diag(w))^T.
  void upload(const HostWeights& w) {
    const size_t H = cfg_.hidden, Q = cfg_.q_dim(), KV = cfg_.kv_dim(), I = cfg_.intermediate;
    // src [rows][H] times fold[H] per column if given, rounded to bf16, at dst + offset.
    auto put = [&](bf16_t* dst, const std::vector<float>& src, size_t offset = 0,
                   const std::vector<float>* fold = nullptr) {
      std::vector<bf16_t> b(src.size());
      for (size_t i = 0; i < src.size(); ++i)
        b[i] = f32_to_bf16_bits(fold ? src[i] * (*fold)[i % H] : src[i]);
      LLMI_CUDA_CHECK(cudaMemcpy(dst + offset, b.data(), b.size() * 2, cudaMemcpyHostToDevice));
    };
    auto put32 = [&](float* dst, const std::vector<float>& src, size_t offset = 0) {
      LLMI_CUDA_CHECK(cudaMemcpy(dst + offset, src.data(), src.size() * 4, cudaMemcpyHostToDevice));
    };
    put(embed_, w.embed);
    if (lm_head_ != embed_) put(lm_head_, w.lm_head);
    put32(final_norm_, w.final_norm);
    std::vector<float> gate_up(2 * I * H);
    for (size_t l = 0; l < layers_.size(); ++l) {
      const LayerWeights& s = w.layers[l];
      LayerPtrs& d = layers_[l];
      put(d.wqkv, s.wq, 0, &s.attn_norm), put(d.wqkv, s.wk, Q * H, &s.attn_norm);
      put(d.wqkv, s.wv, (Q + KV) * H, &s.attn_norm);
      put(d.wo, s.wo), put(d.wdown, s.w_down);
      constexpr size_t G = kernels::kSwigluGroup;
      for (size_t r = 0; r < I; r += G) {  // gate rows r .. r + G, then the same up rows
        std::copy_n(s.w_gate.begin() + r * H, G * H, gate_up.begin() + 2 * r * H);
        std::copy_n(s.w_up.begin() + r * H, G * H, gate_up.begin() + (2 * r + G) * H);
      }
      put(d.wgu, gate_up, 0, &s.mlp_norm);
      if (d.bqkv) put32(d.bqkv, s.bq), put32(d.bqkv, s.bk, Q), put32(d.bqkv, s.bv, Q + KV);
      if (d.bo) put(d.bo, s.bo);
    }
    LLMI_CUDA_CHECK(cudaDeviceSynchronize());  // the runtime's stream does not wait on cudaMemcpy
  }

  // Random bf16 weights made on the device: uniform +-sqrt(3/fan_in), the final norm in
  // [0.8, 1.2) (the layers' norms are folded into random weights: nothing to add).
  void randomize(uint64_t seed) {
    const size_t H = cfg_.hidden, Q = cfg_.q_dim(), KV = cfg_.kv_dim(), I = cfg_.intermediate;
    uint64_t s = seed * 1000;
    auto fill = [&](void* p, DType t, size_t n, float a) {
      fill_uniform_device(p, t, n, ++s, -a, a, stream_);
    };
    auto ones = [&](float* p, size_t n) { fill_uniform_device(p, DType::F32, n, ++s, 0.8f, 1.2f, stream_); };
    fill(embed_, DType::BF16, size_t(cfg_.vocab_size) * H, 1.0f);
    if (lm_head_ != embed_) fill(lm_head_, DType::BF16, size_t(cfg_.vocab_size) * H, init_scale(int(H)));
    ones(final_norm_, H);
    for (auto& d : layers_) {
      fill(d.wqkv, DType::BF16, (Q + 2 * KV) * H, init_scale(int(H)));
      fill(d.wo, DType::BF16, H * Q, init_scale(int(Q)));
      fill(d.wgu, DType::BF16, 2 * I * H, init_scale(int(H)));
      fill(d.wdown, DType::BF16, H * I, init_scale(int(I)));
      if (d.bqkv) fill(d.bqkv, DType::F32, Q + 2 * KV, 0.1f);
      if (d.bo) fill(d.bo, DType::BF16, H, 0.1f);
    }
    LLMI_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  const Config& config() const override { return cfg_; }
  std::string backend() const override { return "cuda-bf16"; }
  int max_seqs() const override { return opt_.max_seqs; }
  int max_context() const override { return max_ctx_; }
  int length(int s) const override { return lengths_.at(size_t(check_seq(s))); }

  void truncate(int s, int len) override {
    check_seq(s);
    LLMI_REQUIRE(len >= 0 && len <= lengths_[size_t(s)], "truncate: length " << len
                     << " outside [0, " << lengths_[size_t(s)] << "] for sequence " << s);
    lengths_[size_t(s)] = len;  // rows past the length are never read again
  }

  void keep(int s, int first, const std::vector<int>& rows) override {
    check_seq(s);
    validate_keep(s, lengths_[size_t(s)], first, rows);
    LLMI_REQUIRE(rows.size() <= size_t(opt_.max_step_tokens), "keep: too many rows");
    std::memcpy(meta_host_, rows.data(), rows.size() * sizeof(int));
    LLMI_CUDA_CHECK(cudaMemcpyAsync(meta_dev_.data(), meta_host_, rows.size() * sizeof(int),
                                    cudaMemcpyHostToDevice, stream_));
    kernels::keep_rows(k_cache_.data(), v_cache_.data(), kv_, cfg_.layers, s, first,
                       reinterpret_cast<const int*>(meta_dev_.data()), int(rows.size()), stream_);
    LLMI_CUDA_CHECK(cudaStreamSynchronize(stream_));
    lengths_[size_t(s)] = first + int(rows.size());
  }

  StepOutput step(const std::vector<SeqChunk>& in) override {
    const std::vector<SeqChunk> batch = validate_batch(in, cfg_, opt_.max_seqs, max_ctx_, lengths_);
    int T = 0;
    for (const auto& c : batch) T += int(c.tokens.size());
    LLMI_REQUIRE(T <= opt_.max_step_tokens, "step: " << T << " new tokens exceed max_step_tokens ("
                                                     << opt_.max_step_tokens << ")");
    StepOutput out;
    out.vocab = cfg_.vocab_size;
    out.hidden = cfg_.hidden;
    const Layout lay = pack_meta(batch, out.row_begin);
    const int R = out.row_begin.back();
    LLMI_CUDA_CHECK(cudaMemcpyAsync(meta_dev_.data(), meta_host_, lay.bytes, cudaMemcpyHostToDevice,
                                    stream_));
    const bool graphable = opt_.decode_graph && batch.size() == 1 && T == 1 && R == 1 &&
                           !batch[0].want_hidden;
    if (graphable) {
      if (!graph_exec_) {
        // One eager run first (it writes the same KV rows and logits the replay writes again)
        // so cuBLAS has chosen and loaded its T=1 kernels before the capture.
        forward(lay, 1, 1);
        capture(lay);
      }
      LLMI_CUDA_CHECK(cudaGraphLaunch(graph_exec_, stream_));
    } else {
      forward(lay, T, R);
    }
    for (const auto& c : batch) lengths_[size_t(c.seq_id)] += int(c.tokens.size());
    out.logits.resize(size_t(R) * cfg_.vocab_size);
    if (R)
      LLMI_CUDA_CHECK(cudaMemcpyAsync(out.logits.data(), logits_.data(), out.logits.size() * 4,
                                      cudaMemcpyDeviceToHost, stream_));
    bool any_hidden = false;
    for (const auto& c : batch) any_hidden |= c.want_hidden;
    if (any_hidden && R) {
      out.hidden_states.resize(size_t(R) * cfg_.hidden);
      LLMI_CUDA_CHECK(cudaMemcpyAsync(out.hidden_states.data(), hidden32_.data(),
                                      out.hidden_states.size() * 4, cudaMemcpyDeviceToHost, stream_));
    }
    LLMI_CUDA_CHECK(cudaStreamSynchronize(stream_));
    if (any_hidden)  // rows of chunks that did not ask for hidden states read 0
      for (size_t b = 0; b < batch.size(); ++b)
        if (!batch[b].want_hidden)
          std::fill(out.hidden_states.begin() + long(size_t(out.row_begin[b]) * cfg_.hidden),
                    out.hidden_states.begin() + long(size_t(out.row_begin[b + 1]) * cfg_.hidden), 0.0f);
    return out;
  }

 private:
  struct Layout {
    size_t bytes = 0;
    kernels::StepMeta meta{};
  };

  int check_seq(int s) const {
    LLMI_REQUIRE(s >= 0 && s < opt_.max_seqs, "sequence id " << s << " outside [0, " << opt_.max_seqs << ")");
    return s;
  }

  void allocate() {
    const size_t H = cfg_.hidden, Q = cfg_.q_dim(), KV = cfg_.kv_dim(), I = cfg_.intermediate,
                 V = cfg_.vocab_size, L = cfg_.layers, T = opt_.max_step_tokens;
    // All weights in one allocation, carved in order.
    const size_t per_layer = (Q + 2 * KV) * H + H * Q + 2 * I * H + H * I + (cfg_.o_bias ? H : 0);
    const size_t n16 = V * H * (cfg_.tie_embeddings ? 1 : 2) + L * per_layer;
    const size_t n32 = H + L * (cfg_.qkv_bias ? Q + 2 * KV : 0);
    w16_ = DeviceBuffer<bf16_t>(n16);
    w32_ = DeviceBuffer<float>(n32);
    bf16_t* p = w16_.data();
    float* f = w32_.data();
    auto take = [&](size_t n) { bf16_t* r = p; p += n; return r; };
    auto take32 = [&](size_t n) { float* r = f; f += n; return r; };
    embed_ = take(V * H);
    lm_head_ = cfg_.tie_embeddings ? embed_ : take(V * H);
    final_norm_ = take32(H);
    for (size_t l = 0; l < L; ++l) {
      LayerPtrs d{};
      d.wqkv = take((Q + 2 * KV) * H), d.wo = take(H * Q), d.wgu = take(2 * I * H), d.wdown = take(H * I);
      d.bo = cfg_.o_bias ? take(H) : nullptr;
      d.bqkv = cfg_.qkv_bias ? take32(Q + 2 * KV) : nullptr;
      layers_.push_back(d);
    }
    kv_ = {opt_.max_seqs, max_ctx_, cfg_.kv_heads, cfg_.head_dim};
    k_cache_ = DeviceBuffer<bf16_t>(L * kv_.layer_stride());
    v_cache_ = DeviceBuffer<bf16_t>(L * kv_.layer_stride());
    x_ = DeviceBuffer<float>(T * H);
    x_bf16_ = DeviceBuffer<bf16_t>(T * H);
    h_ = DeviceBuffer<bf16_t>(T * H);
    qkv_ = DeviceBuffer<bf16_t>(T * (Q + 2 * KV));
    q_ = DeviceBuffer<bf16_t>(T * Q);
    att_ = DeviceBuffer<bf16_t>(T * Q);
    o_ = DeviceBuffer<bf16_t>(T * H);
    gu_ = DeviceBuffer<bf16_t>(T * 2 * I);
    act_ = DeviceBuffer<bf16_t>(T * I);
    hidden32_ = DeviceBuffer<float>(T * H);
    logits_ = DeviceBuffer<float>(T * V);
    attn_partial_ = DeviceBuffer<float>(kernels::attention_scratch_floats(cfg_.head_dim));
    attn_counters_ = DeviceBuffer<int>(kernels::kAttnTargetBlocks);
    LLMI_CUDA_CHECK(cudaMemset(attn_counters_.data(), 0, attn_counters_.size() * sizeof(int)));
    LLMI_CUDA_CHECK(cudaDeviceSynchronize());  // stream_ does not wait on the legacy stream
    // Metadata: 4 ints per token, 4 per chunk, 1 per output row, then the mask bytes.
    mask_cap_ = std::min<size_t>(T * T, size_t(16) << 20);
    meta_cap_ = (4 * T + 4 * size_t(opt_.max_seqs) + T) * sizeof(int) + mask_cap_;
    meta_dev_ = DeviceBuffer<char>(meta_cap_);
    LLMI_CUDA_CHECK(cudaMallocHost(&meta_host_, meta_cap_));
  }

  // Lays out the step's metadata in meta_host_ (offsets depend only on T, C, R and mask sizes,
  // so a batch-1 decode step always has the same layout: the graph's pointers stay valid).
  Layout pack_meta(const std::vector<SeqChunk>& batch, std::vector<int>& row_begin) {
    const int C = int(batch.size());
    int T = 0;
    size_t mask_bytes = 0;
    std::vector<int> rows;
    row_begin.assign(1, 0);
    for (const auto& c : batch) {
      for (int r : selected_rows(c)) rows.push_back(T + r);
      row_begin.push_back(int(rows.size()));
      T += int(c.tokens.size());
      if (c.mask) mask_bytes += c.mask->bits.size();
    }
    LLMI_REQUIRE(mask_bytes <= mask_cap_, "step: masks of " << mask_bytes << " bytes exceed "
                                                            << mask_cap_);
    int* ip = reinterpret_cast<int*>(meta_host_);
    const int* dp = reinterpret_cast<const int*>(meta_dev_.data());
    Layout lay;
    auto& m = lay.meta;
    m.tokens = dp, m.positions = dp + T, m.tok_chunk = dp + 2 * T, m.tok_row = dp + 3 * T;
    m.seq = dp + 4 * T, m.old_len = m.seq + C, m.n_new = m.seq + 2 * C, m.mask_off = m.seq + 3 * C;
    m.out_rows = m.seq + 4 * C;
    const size_t ints = size_t(4 * T + 4 * C) + rows.size();
    m.mask = reinterpret_cast<const uint8_t*>(dp + ints);
    uint8_t* mask_host = reinterpret_cast<uint8_t*>(ip + ints);
    int t = 0;
    size_t moff = 0;
    for (int ci = 0; ci < C; ++ci) {
      const SeqChunk& c = batch[size_t(ci)];
      for (size_t i = 0; i < c.tokens.size(); ++i, ++t) {
        ip[t] = c.tokens[i], ip[T + t] = c.positions[i], ip[2 * T + t] = ci, ip[3 * T + t] = int(i);
      }
      ip[4 * T + ci] = c.seq_id;
      ip[4 * T + C + ci] = lengths_[size_t(c.seq_id)];
      ip[4 * T + 2 * C + ci] = int(c.tokens.size());
      ip[4 * T + 3 * C + ci] = c.mask ? int(moff) : -1;
      if (c.mask) {
        std::memcpy(mask_host + moff, c.mask->bits.data(), c.mask->bits.size());
        moff += c.mask->bits.size();
      }
    }
    std::copy(rows.begin(), rows.end(), ip + 4 * T + 4 * C);
    lay.bytes = ints * sizeof(int) + moff;
    return lay;
  }

  // Y[T, N] (bf16 or fp32) = X[T, K] W[N, K]^T. A few rows (decode) take the streaming GEMV,
  // which reads W closer to full bandwidth than cuBLAS does at M <= 8; otherwise cuBLAS with
  // column-major Y^T = W^T-view x X-view.
  bool use_gemv(const bf16_t* X, const bf16_t* W, int T, int K) const {
    return opt_.small_batch_gemv && kernels::gemv_supported(X, W, T, K);
  }
  void gemm(const bf16_t* X, const bf16_t* W, void* Y, int T, int N, int K, bool f32_out = false) {
    if (use_gemv(X, W, T, K))
      return kernels::gemv(X, W, Y, f32_out ? kernels::GemvOut::kF32 : kernels::GemvOut::kBf16, T,
                           N, K, stream_);
    const float one = 1.0f, zero = 0.0f;
    LLMI_CUBLAS_CHECK(cublasGemmEx(blas_, CUBLAS_OP_T, CUBLAS_OP_N, N, T, K, &one, W, CUDA_R_16BF, K,
                                   X, CUDA_R_16BF, K, &zero, Y, f32_out ? CUDA_R_32F : CUDA_R_16BF,
                                   N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }

  void forward(const Layout& lay, int T, int R) {
    const auto& m = lay.meta;
    const int H = cfg_.hidden, Q = cfg_.q_dim(), KV = cfg_.kv_dim(), I = cfg_.intermediate;
    const float eps = float(cfg_.rms_eps);
    // A decode step runs every linear layer as the fused GEMV (all or none: the residual stream
    // is carried either in the GEMV epilogues or by the norm kernels).
    const bool fused = use_gemv(x_bf16_.data(), layers_[0].wqkv, T, H);
    kernels::embed(embed_, m, x_.data(), fused ? x_bf16_.data() : nullptr, T, H, stream_);
    const kernels::GemvFusion norm{true, eps};
    const kernels::GemvFusion add_x{false, 0.0f, nullptr, x_bf16_.data()};
    if (!fused)
      kernels::add_rmsnorm(x_.data(), nullptr, nullptr, nullptr, h_.data(), nullptr, nullptr, T,
                           H, eps, stream_);
    for (size_t l = 0; l < layers_.size(); ++l) {
      const LayerPtrs& w = layers_[l];
      bf16_t* kc = k_cache_.data() + l * kv_.layer_stride();
      bf16_t* vc = v_cache_.data() + l * kv_.layer_stride();
      if (fused)
        kernels::gemv(x_bf16_.data(), w.wqkv, qkv_.data(), kernels::GemvOut::kBf16, T, Q + 2 * KV,
                      H, stream_, norm);
      else
        gemm(h_.data(), w.wqkv, qkv_.data(), T, Q + 2 * KV, H);
      kernels::rope_append(qkv_.data(), w.bqkv, m, q_.data(), kc, vc, kv_, T, cfg_.heads,
                           float(cfg_.rope_theta), stream_);
      kernels::attention(q_.data(), kc, vc, m, kv_, att_.data(),
                         {attn_partial_.data(), attn_counters_.data()}, T, cfg_.heads, stream_);
      if (fused) {
        kernels::GemvFusion add_o = add_x;
        add_o.bias = w.bo;
        kernels::gemv(att_.data(), w.wo, x_.data(), kernels::GemvOut::kResidual, T, H, Q, stream_,
                      add_o);
        kernels::gemv(x_bf16_.data(), w.wgu, act_.data(), kernels::GemvOut::kSwiglu, T, 2 * I, H,
                      stream_, norm);
        kernels::gemv(act_.data(), w.wdown, x_.data(), kernels::GemvOut::kResidual, T, H, I,
                      stream_, add_x);
      } else {
        gemm(att_.data(), w.wo, o_.data(), T, H, Q);
        kernels::add_rmsnorm(x_.data(), o_.data(), w.bo, nullptr, h_.data(), nullptr, nullptr, T,
                             H, eps, stream_);
        gemm(h_.data(), w.wgu, gu_.data(), T, 2 * I, H);
        kernels::silu_mul(gu_.data(), act_.data(), T, I, stream_);
        gemm(act_.data(), w.wdown, o_.data(), T, H, I);
        if (l + 1 < layers_.size())
          kernels::add_rmsnorm(x_.data(), o_.data(), nullptr, nullptr, h_.data(), nullptr,
                               nullptr, T, H, eps, stream_);
      }
    }
    // Final norm of the rows asked for (the last residual add too, unless a GEMV did it).
    kernels::add_rmsnorm(x_.data(), fused ? nullptr : o_.data(), nullptr, final_norm_, h_.data(),
                         hidden32_.data(), m.out_rows, R, H, eps, stream_);
    if (R) gemm(h_.data(), lm_head_, logits_.data(), R, cfg_.vocab_size, H, /*f32_out=*/true);
  }

  void capture(const Layout& lay) {
    cudaGraph_t graph;
    LLMI_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    forward(lay, 1, 1);
    LLMI_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
    LLMI_CUDA_CHECK(cudaGraphInstantiate(&graph_exec_, graph, 0));
    LLMI_CUDA_CHECK(cudaGraphDestroy(graph));
  }

  Config cfg_;
  CudaOptions opt_;
  int max_ctx_ = 0;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  DeviceBuffer<char> workspace_;
  std::vector<int> lengths_;
  DeviceBuffer<bf16_t> w16_;
  DeviceBuffer<float> w32_;
  bf16_t *embed_ = nullptr, *lm_head_ = nullptr;
  float* final_norm_ = nullptr;
  std::vector<LayerPtrs> layers_;
  kernels::KvLayout kv_{};
  DeviceBuffer<bf16_t> k_cache_, v_cache_, x_bf16_, h_, qkv_, q_, att_, o_, gu_, act_;
  DeviceBuffer<float> x_, hidden32_, logits_, attn_partial_;  // attention split-K scratch
  DeviceBuffer<int> attn_counters_;
  DeviceBuffer<char> meta_dev_;
  char* meta_host_ = nullptr;
  size_t meta_cap_ = 0, mask_cap_ = 0;
  cudaGraphExec_t graph_exec_ = nullptr;
};

}  // namespace

std::unique_ptr<Runtime> make_cuda_runtime(const HostWeights& weights, CudaOptions opt) {
  auto rt = std::make_unique<CudaRuntime>(weights.config, opt);
  rt->upload(weights);
  return rt;
}

std::unique_ptr<Runtime> make_cuda_runtime_random(const Config& config, uint64_t seed,
                                                  CudaOptions opt) {
  auto rt = std::make_unique<CudaRuntime>(config, opt);
  rt->randomize(seed);
  return rt;
}

}  // namespace llmi::llama
