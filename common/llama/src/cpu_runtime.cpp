// CPU fp32 reference forward (Hugging Face LlamaForCausalLM semantics, fp32 throughout).
//
// Clear rather than fast, but fast enough for CI: weights are read once per step for all new
// tokens of all sequences (n outer, tokens inner), dot products use eight independent partial
// sums so the compiler vectorises them without reassociating, and each sequence keeps a KV
// cache so decoding costs one token's work per step.
#include "llmi/llama/cpu_runtime.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "llmi/check.h"

namespace llmi::llama {

namespace {

float dot(const float* a, const float* b, int K) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int k = 0;
  for (; k + 8 <= K; k += 8)
    for (int u = 0; u < 8; ++u) acc[u] += a[k + u] * b[k + u];
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; k < K; ++k) s += a[k] * b[k];
  return s;
}

// y = x / sqrt(mean(x^2) + eps) * w, row by row (HF LlamaRMSNorm: fp32 variance).
void rmsnorm(const float* x, const float* w, float* y, int rows, int cols, double eps) {
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + size_t(r) * cols;
    float* yr = y + size_t(r) * cols;
    float ss = dot(xr, xr, cols);
    const float inv = 1.0f / std::sqrt(ss / float(cols) + float(eps));
    for (int c = 0; c < cols; ++c) yr[c] = w[c] * (xr[c] * inv);
  }
}

// Rotary embedding, HF rotate_half layout ([..., i] pairs with [..., i + d/2]); the angle is
// computed in fp32 as HF does (inv_freq = 1 / theta^(2i/d), angle = pos * inv_freq).
void rope(float* x, const int* pos, int T, int heads, int D, double theta) {
  const int half = D / 2;
  std::vector<float> inv_freq(static_cast<size_t>(half)), c(static_cast<size_t>(half)), s(static_cast<size_t>(half));
  for (int i = 0; i < half; ++i)
    inv_freq[size_t(i)] = 1.0f / float(std::pow(theta, double(2 * i) / double(D)));
  for (int t = 0; t < T; ++t) {
    for (int i = 0; i < half; ++i) {
      const float ang = float(pos[t]) * inv_freq[size_t(i)];
      c[size_t(i)] = std::cos(ang);
      s[size_t(i)] = std::sin(ang);
    }
    for (int h = 0; h < heads; ++h) {
      float* v = x + (size_t(t) * heads + h) * D;
      for (int i = 0; i < half; ++i) {
        const float a = v[i], b = v[i + half];
        v[i] = a * c[size_t(i)] - b * s[size_t(i)];
        v[i + half] = b * c[size_t(i)] + a * s[size_t(i)];
      }
    }
  }
}

class CpuRuntime final : public Runtime {
 public:
  CpuRuntime(std::shared_ptr<const HostWeights> w, RuntimeOptions opt) : w_(std::move(w)) {
    LLMI_REQUIRE(w_, "cpu runtime: no weights");
    w_->config.validate();
    max_seqs_ = opt.max_seqs;
    max_ctx_ = opt.max_context > 0 ? std::min(opt.max_context, w_->config.max_positions)
                                   : w_->config.max_positions;
    LLMI_REQUIRE(max_seqs_ > 0, "cpu runtime: max_seqs must be positive");
    caches_.resize(static_cast<size_t>(max_seqs_));
    for (auto& c : caches_) c.k.resize(size_t(w_->config.layers)), c.v.resize(size_t(w_->config.layers));
  }
  const Config& config() const override { return w_->config; }
  std::string backend() const override { return "cpu-fp32"; }
  int max_seqs() const override { return max_seqs_; }
  int max_context() const override { return max_ctx_; }
  int length(int s) const override { return caches_.at(size_t(check_seq(s))).len; }

  void truncate(int s, int len) override {
    Cache& c = caches_[size_t(check_seq(s))];
    LLMI_REQUIRE(len >= 0 && len <= c.len, "truncate: length " << len << " outside [0, " << c.len
                                                              << "] for sequence " << s);
    resize(c, len);
  }

  void keep(int s, int first, const std::vector<int>& rows) override {
    Cache& c = caches_[size_t(check_seq(s))];
    validate_keep(s, c.len, first, rows);
    const size_t kv = size_t(w_->config.kv_dim());
    for (int l = 0; l < w_->config.layers; ++l)
      for (size_t k = 0; k < rows.size(); ++k)
        for (auto* buf : {&c.k[size_t(l)], &c.v[size_t(l)]})  // rows increase: no overlap hazard
          std::copy_n(buf->begin() + long(size_t(first + rows[k]) * kv), kv,
                      buf->begin() + long((size_t(first) + k) * kv));
    resize(c, first + int(rows.size()));
  }

  StepOutput step(const std::vector<SeqChunk>& in) override {
    std::vector<int> lens(static_cast<size_t>(max_seqs_));
    for (int s = 0; s < max_seqs_; ++s) lens[size_t(s)] = caches_[size_t(s)].len;
    const std::vector<SeqChunk> batch = validate_batch(in, w_->config, max_seqs_, max_ctx_, lens);
    const Config& c = w_->config;
    const int H = c.hidden, Q = c.q_dim(), KV = c.kv_dim(), I = c.intermediate, D = c.head_dim;

    std::vector<int> begin{0}, tokens, positions;
    for (const auto& ch : batch) {
      begin.push_back(begin.back() + int(ch.tokens.size()));
      tokens.insert(tokens.end(), ch.tokens.begin(), ch.tokens.end());
      positions.insert(positions.end(), ch.positions.begin(), ch.positions.end());
    }
    const int T = begin.back();
    std::vector<int> old_len;
    for (const auto& ch : batch) {
      Cache& cache = caches_[size_t(ch.seq_id)];
      old_len.push_back(cache.len);
      resize(cache, cache.len + int(ch.tokens.size()));
    }

    std::vector<float> x(size_t(T) * H), h(size_t(T) * H), q(size_t(T) * Q), k(size_t(T) * KV),
        v(size_t(T) * KV), att(size_t(T) * Q), o(size_t(T) * H), g(size_t(T) * I),
        u(size_t(T) * I);
    for (int t = 0; t < T; ++t)
      std::copy_n(w_->embed.data() + size_t(tokens[size_t(t)]) * H, H, x.data() + size_t(t) * H);

    for (int l = 0; l < c.layers; ++l) {
      const LayerWeights& L = w_->layers[size_t(l)];
      rmsnorm(x.data(), L.attn_norm.data(), h.data(), T, H, c.rms_eps);
      cpu_linear(h.data(), L.wq.data(), L.bq.empty() ? nullptr : L.bq.data(), q.data(), T, Q, H);
      cpu_linear(h.data(), L.wk.data(), L.bk.empty() ? nullptr : L.bk.data(), k.data(), T, KV, H);
      cpu_linear(h.data(), L.wv.data(), L.bv.empty() ? nullptr : L.bv.data(), v.data(), T, KV, H);
      rope(q.data(), positions.data(), T, c.heads, D, c.rope_theta);
      rope(k.data(), positions.data(), T, c.kv_heads, D, c.rope_theta);
      for (size_t b = 0; b < batch.size(); ++b) {
        Cache& cache = caches_[size_t(batch[b].seq_id)];
        const size_t n = batch[b].tokens.size();
        std::copy_n(k.data() + size_t(begin[b]) * KV, n * KV,
                    cache.k[size_t(l)].data() + size_t(old_len[b]) * KV);
        std::copy_n(v.data() + size_t(begin[b]) * KV, n * KV,
                    cache.v[size_t(l)].data() + size_t(old_len[b]) * KV);
        attend(batch[b], old_len[b], cache.k[size_t(l)].data(), cache.v[size_t(l)].data(),
               q.data() + size_t(begin[b]) * Q, att.data() + size_t(begin[b]) * Q);
      }
      cpu_linear(att.data(), L.wo.data(), L.bo.empty() ? nullptr : L.bo.data(), o.data(), T, H, Q);
      for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
      rmsnorm(x.data(), L.mlp_norm.data(), h.data(), T, H, c.rms_eps);
      cpu_linear(h.data(), L.w_gate.data(), nullptr, g.data(), T, I, H);
      cpu_linear(h.data(), L.w_up.data(), nullptr, u.data(), T, I, H);
      for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
      cpu_linear(g.data(), L.w_down.data(), nullptr, o.data(), T, H, I);
      for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    }

    // Final norm and LM head only for the rows asked for.
    StepOutput out;
    out.vocab = c.vocab_size;
    out.hidden = H;
    out.row_begin.push_back(0);
    std::vector<int> src;
    bool any_hidden = false;
    for (size_t b = 0; b < batch.size(); ++b) {
      for (int r : selected_rows(batch[b])) src.push_back(begin[b] + r);
      out.row_begin.push_back(int(src.size()));
      any_hidden |= batch[b].want_hidden;
    }
    const int R = int(src.size());
    std::vector<float> sel(size_t(R) * H), normed(size_t(R) * H);
    for (int r = 0; r < R; ++r)
      std::copy_n(x.data() + size_t(src[size_t(r)]) * H, H, sel.data() + size_t(r) * H);
    rmsnorm(sel.data(), w_->final_norm.data(), normed.data(), R, H, c.rms_eps);
    out.logits.resize(size_t(R) * c.vocab_size);
    cpu_linear(normed.data(), w_->lm_head.data(), nullptr, out.logits.data(), R, c.vocab_size, H);
    if (any_hidden) {
      out.hidden_states.assign(size_t(R) * H, 0.0f);
      for (size_t b = 0; b < batch.size(); ++b)
        if (batch[b].want_hidden)
          std::copy(normed.begin() + long(size_t(out.row_begin[b]) * H),
                    normed.begin() + long(size_t(out.row_begin[b + 1]) * H),
                    out.hidden_states.begin() + long(size_t(out.row_begin[b]) * H));
    }
    return out;
  }

 private:
  struct Cache {
    int len = 0;
    std::vector<std::vector<float>> k, v;  // per layer: [len, kv_heads, head_dim], post-RoPE
  };

  int check_seq(int s) const {
    LLMI_REQUIRE(s >= 0 && s < max_seqs_, "sequence id " << s << " outside [0, " << max_seqs_ << ")");
    return s;
  }
  void resize(Cache& c, int len) const {
    for (auto& b : c.k) b.resize(size_t(len) * size_t(w_->config.kv_dim()));
    for (auto& b : c.v) b.resize(size_t(len) * size_t(w_->config.kv_dim()));
    c.len = len;
  }

  // Attention of one chunk's n queries over the cached prefix (always visible) and the chunk's
  // own rows (visible per mask, causal when none). q, out: [n, heads, D]; K, V: [len, kv_heads, D].
  void attend(const SeqChunk& ch, int prefix, const float* K, const float* V, const float* q,
              float* out) const {
    const Config& c = w_->config;
    const int n = int(ch.tokens.size()), D = c.head_dim, group = c.heads / c.kv_heads;
    const int total = prefix + n;
    const float scale = 1.0f / std::sqrt(float(D));
    std::vector<float> p(static_cast<size_t>(total));
    for (int i = 0; i < n; ++i)
      for (int hq = 0; hq < c.heads; ++hq) {
        const int hk = hq / group;
        const float* qi = q + (size_t(i) * c.heads + hq) * D;
        float mx = -std::numeric_limits<float>::infinity();
        for (int j = 0; j < total; ++j) {
          const bool vis = j < prefix || (ch.mask ? ch.mask->visible(i, j - prefix) : j - prefix <= i);
          p[size_t(j)] = vis ? dot(qi, K + (size_t(j) * c.kv_heads + hk) * D, D) * scale
                             : -std::numeric_limits<float>::infinity();
          mx = std::max(mx, p[size_t(j)]);
        }
        float* oi = out + (size_t(i) * c.heads + hq) * D;
        std::fill(oi, oi + D, 0.0f);
        if (mx == -std::numeric_limits<float>::infinity()) continue;  // sees nothing: output 0
        double sum = 0;
        for (int j = 0; j < total; ++j) sum += (p[size_t(j)] = std::exp(p[size_t(j)] - mx));
        const float inv = float(1.0 / sum);
        for (int j = 0; j < total; ++j) {
          if (p[size_t(j)] == 0.0f) continue;
          const float pj = p[size_t(j)] * inv;
          const float* vj = V + (size_t(j) * c.kv_heads + hk) * D;
          for (int d = 0; d < D; ++d) oi[d] += pj * vj[d];
        }
      }
  }

  std::shared_ptr<const HostWeights> w_;
  int max_seqs_ = 0, max_ctx_ = 0;
  std::vector<Cache> caches_;
};

}  // namespace

void cpu_linear(const float* x, const float* W, const float* b, float* y, int T, int N, int K) {
  for (int n = 0; n < N; ++n) {  // weights outer: each row of W is read once for all T rows
    const float* w = W + size_t(n) * K;
    const float bias = b ? b[n] : 0.0f;
    for (int t = 0; t < T; ++t) y[size_t(t) * N + n] = dot(x + size_t(t) * K, w, K) + bias;
  }
}

std::unique_ptr<Runtime> make_cpu_runtime(std::shared_ptr<const HostWeights> weights,
                                          RuntimeOptions opt) {
  return std::make_unique<CpuRuntime>(std::move(weights), opt);
}

}  // namespace llmi::llama
