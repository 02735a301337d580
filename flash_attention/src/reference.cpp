// CPU reference attention (see reference.h). Plain loops over (sequence, head, query, key);
// the naive-precision variant rounds exactly where a materialising implementation stores.
#include "flash_attention/reference.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "llmi/check.h"

namespace flash::ref {

namespace {
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// Index helpers for the packed layouts of problem.h.
struct Layout {
  const Problem& p;
  size_t q(int token, int head) const { return (size_t(token) * p.heads_q + head) * p.head_dim; }
  size_t kv(int token, int head) const {
    return (size_t(token) * p.heads_kv + head) * p.head_dim;
  }
};

// Visible keys of query i in a sequence of sq queries and sk keys (bottom-right causal).
int visible_keys(const Problem& p, int i, int sq, int sk) {
  if (!p.causal) return sk;
  return std::clamp(i + (sk - sq) + 1, 0, sk);
}

// P (rounded by r) of one query row against its sequence's keys; returns the row's lse.
double probabilities(const Problem& p, const Layout& L, const double* q, const double* k, int qt,
                     int h, int k0, int nvis, std::vector<double>& prob, const Precision& r) {
  const int D = p.head_dim, kh = h / p.group();
  double mx = kNegInf;
  for (int j = 0; j < nvis; ++j) {
    double s = 0;
    for (int d = 0; d < D; ++d) s += q[L.q(qt, h) + d] * k[L.kv(k0 + j, kh) + d];
    prob[j] = r(s * p.scale());  // S stored in the working precision
    mx = std::max(mx, prob[j]);
  }
  if (nvis == 0) return kNegInf;
  double sum = 0;
  for (int j = 0; j < nvis; ++j) sum += std::exp(prob[j] - mx);
  for (int j = 0; j < nvis; ++j) prob[j] = r(std::exp(prob[j] - mx) / sum);  // P stored
  return mx + std::log(sum);
}
}  // namespace

double Precision::operator()(double x) const {
  if (exact) return x;
  return dtype == llmi::DType::BF16 ? llmi::bf16_bits_to_f32(llmi::f32_to_bf16_bits(float(x)))
                                    : llmi::f16_bits_to_f32(llmi::f32_to_f16_bits(float(x)));
}

void forward(const Problem& p, const double* q, const double* k, const double* v, double* out,
             double* lse, Precision r) {
  validate(p, {p.head_dim});
  const Layout L{p};
  const int D = p.head_dim;
  std::vector<double> prob(std::max(1, p.max_seqlen_k()));
  for (int b = 0; b < p.batch(); ++b) {
    const int sq = p.seqlen_q(b), sk = p.seqlen_k(b);
    const int q0 = p.cu_seqlens_q[b], k0 = p.cu_seqlens_k[b];
    for (int h = 0; h < p.heads_q; ++h) {
      const int kh = h / p.group();
      for (int i = 0; i < sq; ++i) {
        const int nvis = visible_keys(p, i, sq, sk);
        const double l = probabilities(p, L, q, k, q0 + i, h, k0, nvis, prob, r);
        if (lse) lse[size_t(h) * p.total_q() + q0 + i] = l;
        double* o = out + L.q(q0 + i, h);
        for (int d = 0; d < D; ++d) {
          double acc = 0;
          for (int j = 0; j < nvis; ++j) acc += prob[j] * v[L.kv(k0 + j, kh) + d];
          o[d] = r(acc);
        }
      }
    }
  }
}

void backward(const Problem& p, const double* q, const double* k, const double* v,
              const double* out, const double* dout, double* dq, double* dk, double* dv,
              Precision r) {
  validate(p, {p.head_dim});
  const Layout L{p};
  const int D = p.head_dim;
  const double scale = p.scale();
  std::fill(dq, dq + size_t(p.total_q()) * p.heads_q * D, 0.0);
  // dK, dV sum over the query heads of a group: accumulate exactly, round once at the end.
  std::vector<double> dk_acc(size_t(p.total_k()) * p.heads_kv * D, 0.0), dv_acc(dk_acc.size(), 0.0);
  std::vector<double> prob(std::max(1, p.max_seqlen_k())), dprob(prob.size());
  for (int b = 0; b < p.batch(); ++b) {
    const int sq = p.seqlen_q(b), sk = p.seqlen_k(b);
    const int q0 = p.cu_seqlens_q[b], k0 = p.cu_seqlens_k[b];
    for (int h = 0; h < p.heads_q; ++h) {
      const int kh = h / p.group();
      // dV_j = sum_i P_ij dO_i and dK_j = scale * sum_i dS_ij Q_i, per query head, rounded as
      // a per-head matmul output would be.
      std::vector<double> dk_head(size_t(sk) * D, 0.0), dv_head(size_t(sk) * D, 0.0);
      for (int i = 0; i < sq; ++i) {
        const int qt = q0 + i, nvis = visible_keys(p, i, sq, sk);
        probabilities(p, L, q, k, qt, h, k0, nvis, prob, r);
        const double* dOi = dout + L.q(qt, h);
        // D_i = rowsum(dO_i o O_i) (FA2 Alg. 2 line 4); equal to sum_j P_ij dP_ij.
        double Di = 0;
        for (int d = 0; d < D; ++d) Di += dOi[d] * out[L.q(qt, h) + d];
        for (int j = 0; j < nvis; ++j) {
          double dp = 0;
          for (int d = 0; d < D; ++d) dp += dOi[d] * v[L.kv(k0 + j, kh) + d];
          dprob[j] = r(prob[j] * (r(dp) - Di));  // dS = P o (dP - D)
        }
        for (int d = 0; d < D; ++d) {
          double acc = 0;
          for (int j = 0; j < nvis; ++j) acc += dprob[j] * k[L.kv(k0 + j, kh) + d];
          dq[L.q(qt, h) + d] = acc * scale;
        }
        for (int j = 0; j < nvis; ++j)
          for (int d = 0; d < D; ++d) {
            dv_head[size_t(j) * D + d] += prob[j] * dOi[d];
            dk_head[size_t(j) * D + d] += dprob[j] * q[L.q(qt, h) + d] * scale;
          }
      }
      for (int j = 0; j < sk; ++j)
        for (int d = 0; d < D; ++d) {
          dk_acc[L.kv(k0 + j, kh) + d] += r(dk_head[size_t(j) * D + d]);
          dv_acc[L.kv(k0 + j, kh) + d] += r(dv_head[size_t(j) * D + d]);
        }
    }
  }
  for (size_t i = 0; i < size_t(p.total_q()) * p.heads_q * D; ++i) dq[i] = r(dq[i]);
  for (size_t i = 0; i < dk_acc.size(); ++i) {
    dk[i] = r(dk_acc[i]);
    dv[i] = r(dv_acc[i]);
  }
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  LLMI_REQUIRE(a.size() == b.size(), "size mismatch: " << a.size() << " vs " << b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(a[i] - b[i]);
    if (!std::isfinite(d)) return std::numeric_limits<double>::infinity();
    m = std::max(m, d);
  }
  return m;
}

double rounding_slack(const std::vector<double>& ref, llmi::DType dtype) {
  const Precision r = Precision::naive(dtype);
  double m = 0;
  for (double x : ref) m = std::max(m, std::fabs(r(r(r(x) + 0.3) - 0.3) - r(x)));
  return 2 * m;
}

}  // namespace flash::ref
