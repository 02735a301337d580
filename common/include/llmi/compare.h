// Comparing a result with its reference: the figures every kernel test and benchmark reports.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "llmi/tensor.h"

namespace llmi {

struct Comparison {
  double rel_l2 = 0;          // ||out - ref|| / ||ref||; +inf when out has NaN/Inf
  double max_abs = 0;         // max |out - ref| over finite elements
  size_t nonfinite = 0;       // NaN or Inf elements in out
  size_t count = 0;
  bool ok(double bound) const { return nonfinite == 0 && rel_l2 <= bound; }
  std::string str() const;    // "rel_l2=1.2e-03 max_abs=4.0e-02 nonfinite=0 n=4096"
};

// Throws llmi::Error if the sizes differ. NaN in `out` never compares as close.
Comparison compare(const std::vector<double>& out, const std::vector<double>& ref);
Comparison compare(const Tensor& out, const Tensor& ref);

// Number of elements whose bytes still equal the poison byte pattern, i.e. were never written.
size_t count_poisoned(const Tensor& t, unsigned char byte = 0xFF);

}  // namespace llmi
