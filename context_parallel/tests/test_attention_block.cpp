// The CPU attention block and the LSE merge (paper App. B, Eq. 4) against llmi::ref::attention.
#include <cmath>
#include <limits>
#include <vector>

#include "cpu_attention_block.h"
#include "llmi/catch.h"
#include "llmi/compare.h"
#include "llmi/cpu_ref.h"
#include "llmi/random.h"
#include "lse_merge.h"

using namespace llmi;
using namespace llmi::cp;

namespace {
std::vector<double> rnd(size_t n, uint64_t seed) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = 2.0 * uniform01(seed, i) - 1.0;
  return v;
}
std::vector<Token> seq_tokens(int seq, int from, int n) {
  std::vector<Token> t;
  for (int i = 0; i < n; ++i) t.push_back(Token{seq, from + i});
  return t;
}
// lse [Sq, Hq] (ours) from ref's [Hq, Sq].
std::vector<double> transpose(const std::vector<double>& hs, int Hq, int Sq) {
  std::vector<double> t(hs.size());
  for (int h = 0; h < Hq; ++h)
    for (int i = 0; i < Sq; ++i) t[size_t(i) * Hq + h] = hs[size_t(h) * Sq + i];
  return t;
}
}  // namespace

TEST_CASE("attention block equals the reference: partial-prefill causal mask, GQA") {
  const int Hq = 6, Hkv = 2, D = 16, P = 11, T = 7, Sk = P + T;
  for (bool causal : {true, false}) {
    auto q = rnd(size_t(T) * Hq * D, 1), k = rnd(size_t(Sk) * Hkv * D, 2), v = rnd(size_t(Sk) * Hkv * D, 3);
    const AttnShape sh{Hq, Hkv, D, 0.25, causal};
    std::vector<double> out(q.size()), lse(size_t(T) * Hq), ref_out(q.size()), ref_lse(lse.size());
    auto qt = seq_tokens(0, P, T), kt = seq_tokens(0, 0, Sk);
    attend_block<double, double>(sh, qt.data(), q.data(), T, kt.data(), k.data(), v.data(), Sk, out.data(), lse.data());
    ref::attention(q.data(), k.data(), v.data(), ref_out.data(), T, Sk, Hq, Hkv, D, 0.25,
                   causal ? ref::causal_mask(T, Sk) : ref::full_mask(), ref_lse.data());
    CHECK(compare(out, ref_out).ok(1e-13));
    CHECK(compare(lse, transpose(ref_lse, Hq, T)).ok(1e-13));
  }
}

TEST_CASE("attention block masks other sequences and padding; unseen rows give 0 and -inf") {
  const AttnShape sh{2, 1, 4, 0.5, true};
  std::vector<Token> qt{{0, 3}, {1, 0}, kPad, {2, 5}};
  std::vector<Token> kt{{0, 0}, {0, 4}, kPad, {1, 0}, {1, 1}};
  auto q = rnd(4 * 2 * 4, 4), k = rnd(5 * 4, 5), v = rnd(5 * 4, 6);
  std::vector<double> out(q.size(), 7.0), lse(8, 7.0);
  attend_block<double, double>(sh, qt.data(), q.data(), 4, kt.data(), k.data(), v.data(), 5, out.data(), lse.data());
  // Query (0,3) sees only key (0,0): its output is that key's value row, lse = its score.
  for (int h = 0; h < 2; ++h) {
    double s = 0;
    for (int d = 0; d < 4; ++d) s += q[h * 4 + d] * k[d];
    CHECK(lse[h] == test::Approx(0.5 * s));
    for (int d = 0; d < 4; ++d) CHECK(out[h * 4 + d] == test::Approx(v[d]));
  }
  // Query (1,0) sees only key (1,0).
  for (int d = 0; d < 4; ++d) CHECK(out[(1 * 2 + 0) * 4 + d] == test::Approx(v[3 * 4 + d]));
  // Padding and a sequence with no keys in this block: zero rows, lse -inf.
  for (int row : {2, 3})
    for (int h = 0; h < 2; ++h) {
      CHECK(lse[row * 2 + h] == -std::numeric_limits<double>::infinity());
      for (int d = 0; d < 4; ++d) CHECK(out[(row * 2 + h) * 4 + d] == 0.0);
    }
  CHECK(visible_pairs(qt.data(), 4, kt.data(), 5, true) == 2.0);
  LLMI_REQUIRE_THROWS_WITH(
      (attend_block<double, double>(AttnShape{3, 2, 4, 1, true}, qt.data(), q.data(), 1, kt.data(),
                                    k.data(), v.data(), 1, out.data(), lse.data())),
      "must be a multiple of kv heads");
}

TEST_CASE("merging partials over any split of the keys gives the whole attention (Eq. 4)") {
  const int Hq = 4, Hkv = 2, D = 8, T = 9, Sk = 23, S = 4;
  const AttnShape sh{Hq, Hkv, D, 0.35, true};
  auto q = rnd(size_t(T) * Hq * D, 7), k = rnd(size_t(Sk) * Hkv * D, 8), v = rnd(size_t(Sk) * Hkv * D, 9);
  auto qt = seq_tokens(0, Sk - T, T), kt = seq_tokens(0, 0, Sk);
  std::vector<double> whole(q.size()), whole_lse(size_t(T) * Hq);
  attend_block<double, double>(sh, qt.data(), q.data(), T, kt.data(), k.data(), v.data(), Sk, whole.data(), whole_lse.data());

  // Split keys over S blocks at random; block 3 gets none (all -inf partials must be ignored).
  const size_t rows = size_t(T) * Hq, stride = rows * (D + 1);
  std::vector<double> parts(S * stride);
  for (int s = 0; s < S; ++s) {
    std::vector<Token> mine = kt;
    for (int j = 0; j < Sk; ++j)
      if (s == 3 || int(splitmix64(100 + j) % 3) != s) mine[j] = kPad;
    attend_block<double, double>(sh, qt.data(), q.data(), T, mine.data(), k.data(), v.data(), Sk,
                                 parts.data() + s * stride, parts.data() + s * stride + rows * D);
  }
  std::vector<double> merged(q.size()), merged_lse(rows);
  merge_partials<double>(S, rows, D, parts.data(), parts.data() + rows * D, stride, merged.data(), merged_lse.data());
  CHECK(compare(merged, whole).ok(1e-13));
  CHECK(compare(merged_lse, whole_lse).ok(1e-13));

  // fp32 merge of fp32 partials: within fp32 error, and order-independent up to rounding.
  std::vector<float> parts32(parts.begin(), parts.end()), merged32(q.size());
  merge_partials<float>(S, rows, D, parts32.data(), parts32.data() + rows * D, stride, merged32.data());
  CHECK(compare(std::vector<double>(merged32.begin(), merged32.end()), whole).ok(1e-6));
}

TEST_CASE("merge keeps large LSEs finite and rows nobody sees at zero") {
  // Two partials with LSE 1000 and 1001 would overflow a naive exp(); weights 1 : e.
  std::vector<double> outs{1.0, 3.0}, lses{1000.0, 1001.0};
  std::vector<double> o(1), l(1);
  merge_partials<double>(2, 1, 1, outs.data(), lses.data(), 1, o.data(), l.data());
  const double e = std::exp(1.0);
  CHECK(o[0] == test::Approx((1.0 + 3.0 * e) / (1.0 + e)));
  CHECK(l[0] == test::Approx(1001.0 + std::log1p(std::exp(-1.0))));
  const double ninf = -std::numeric_limits<double>::infinity();
  std::vector<double> none{ninf, ninf};
  merge_partials<double>(2, 1, 1, outs.data(), none.data(), 1, o.data(), l.data());
  CHECK(o[0] == 0.0);
  CHECK(l[0] == ninf);
}
