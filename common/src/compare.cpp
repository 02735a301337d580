#include "llmi/compare.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "llmi/check.h"

namespace llmi {

std::string Comparison::str() const {
  char buf[128];
  std::snprintf(buf, sizeof buf, "rel_l2=%.2e max_abs=%.2e nonfinite=%zu n=%zu", rel_l2, max_abs,
                nonfinite, count);
  return buf;
}

Comparison compare(const std::vector<double>& out, const std::vector<double>& ref) {
  LLMI_REQUIRE(out.size() == ref.size(),
               "compare: output has " << out.size() << " elements, reference " << ref.size());
  Comparison c;
  c.count = out.size();
  double num = 0, den = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i])) {
      ++c.nonfinite;
      continue;
    }
    double d = out[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
    c.max_abs = std::max(c.max_abs, std::fabs(d));
  }
  if (c.nonfinite)
    c.rel_l2 = std::numeric_limits<double>::infinity();
  else
    c.rel_l2 = den > 0 ? std::sqrt(num / den) : (num > 0 ? std::numeric_limits<double>::infinity() : 0.0);
  return c;
}

Comparison compare(const Tensor& out, const Tensor& ref) {
  LLMI_REQUIRE(out.shape() == ref.shape(),
               "compare: shape mismatch " << out.shape_str() << " vs " << ref.shape_str());
  return compare(out.to_double(), ref.to_double());
}

size_t count_poisoned(const Tensor& t, unsigned char byte) {
  Tensor h = t.to(Device::Host);
  const size_t es = dtype_size(h.dtype());
  const auto* p = static_cast<const unsigned char*>(h.raw());
  size_t n = 0;
  for (size_t i = 0; i < size_t(h.numel()); ++i) {
    bool all = true;
    for (size_t b = 0; b < es && all; ++b) all = p[i * es + b] == byte;
    n += all;
  }
  return n;
}

}  // namespace llmi
