#include "heuristic.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "llmi/check.h"

namespace llmi::cp {

void RingWorkload::validate() const {
  LLMI_REQUIRE(T > 0, "the heuristic needs new tokens (T=" << T << ")");
  LLMI_REQUIRE(P >= 0, "negative cached token count P=" << P);
  LLMI_REQUIRE(ranks >= 1, "context parallelism needs at least one rank, got " << ranks);
  LLMI_REQUIRE(q_heads > 0 && kv_heads > 0 && q_heads % kv_heads == 0,
               "query heads (" << q_heads << ") must be a positive multiple of kv heads (" << kv_heads << ")");
  LLMI_REQUIRE(head_dim > 0 && elem_bytes > 0, "head dim and element size must be positive");
}

void MeasuredRates::validate() const {
  LLMI_REQUIRE(flops_per_s > 0 && std::isfinite(flops_per_s),
               "measured attention rate C must be positive and finite, got " << flops_per_s);
  LLMI_REQUIRE(bytes_per_s > 0 && std::isfinite(bytes_per_s),
               "measured link bandwidth BW must be positive and finite, got " << bytes_per_s);
}

RingWorkload workload_of(const std::vector<SeqSpec>& seqs, int ranks, const AttnShape& shape,
                         double elem_bytes) {
  RingWorkload w;
  for (const SeqSpec& s : seqs) w.T += s.fresh, w.P += s.cached;
  w.ranks = ranks;
  w.q_heads = shape.q_heads;
  w.kv_heads = shape.kv_heads;
  w.head_dim = shape.head_dim;
  w.elem_bytes = elem_bytes;
  return w;
}

Choice choose_variant(const RingWorkload& w, const MeasuredRates& r) {
  w.validate();
  r.validate();
  const double N = w.ranks, C = r.flops_per_s, BW = r.bytes_per_s, e = w.elem_bytes;
  const double NH = w.q_heads, NKV = w.kv_heads;
  Choice c;
  c.kv_hidden_min_T = N * C * NKV * e / (2 * NH * BW);
  c.miss_rate = w.T / (w.T + w.P);
  c.miss_threshold = 2 * NKV / NH - 4 * w.T * BW / (N * C * e);
  c.variant = (w.T >= c.kv_hidden_min_T || c.miss_rate >= c.miss_threshold) ? Variant::PassKV
                                                                            : Variant::PassQ;
  return c;
}

std::string Choice::why() const {
  std::ostringstream os;
  os.precision(3);
  os << variant_name(variant) << ": T >= " << kv_hidden_min_T << " (Eq. 2) or miss rate "
     << miss_rate << " >= " << miss_threshold << " (Eq. 5)";
  return os.str();
}

RingTimes model_ring(const RingWorkload& w, const MeasuredRates& r) {
  w.validate();
  r.validate();
  const double N = w.ranks, Dm = double(w.q_heads) * w.head_dim;  // D: query width of a rank
  const double Tq = w.T / N, Tkv = (w.T + w.P) / N;               // per rank
  RingTimes t;
  t.attn_step = 4 * Tq * Tkv * Dm / r.flops_per_s;
  t.kv_step = 2 * Tkv * w.kv_heads * w.head_dim * w.elem_bytes / r.bytes_per_s;
  t.q_step = Tq * Dm * w.elem_bytes / r.bytes_per_s;
  t.all_to_all = (N - 1) * Tq * w.q_heads * (w.head_dim + 1) * sizeof(float) / r.bytes_per_s;
  const double steps = N, transfers = N - 1;
  t.pass_kv = steps * t.attn_step + transfers * std::max(0.0, t.kv_step - t.attn_step);
  t.pass_q = steps * t.attn_step + transfers * std::max(0.0, t.q_step - t.attn_step) +
             (N > 1 ? t.all_to_all : 0.0);
  return t;
}

double choice_regret(const std::vector<MeasuredPoint>& pts, const MeasuredRates& r) {
  double lost = 0;
  for (const MeasuredPoint& p : pts) {
    const double chosen = choose_variant(p.w, r).variant == Variant::PassKV ? p.pass_kv_s : p.pass_q_s;
    lost += chosen - std::min(p.pass_kv_s, p.pass_q_s);
  }
  return lost;
}

MeasuredRates refit_rates(const std::vector<MeasuredPoint>& pts, const MeasuredRates& start) {
  start.validate();
  LLMI_REQUIRE(!pts.empty(), "refit_rates needs measured points");
  MeasuredRates best = start;
  double best_regret = choice_regret(pts, start);
  int best_change = 0;
  for (int ic = -16; ic <= 16; ++ic)
    for (int ib = -16; ib <= 16; ++ib) {
      const MeasuredRates r{start.flops_per_s * std::exp2(ic / 4.0),
                            start.bytes_per_s * std::exp2(ib / 4.0)};
      const double regret = choice_regret(pts, r);
      const int change = std::abs(ic) + std::abs(ib);
      if (regret < best_regret || (regret == best_regret && change < best_change)) {
        best = r;
        best_regret = regret;
        best_change = change;
      }
    }
  return best;
}

}  // namespace llmi::cp
