#include "llmi/catch.h"
#include "llmi/check.h"
#include "llmi/compare.h"
#include "llmi/random.h"
#include "llmi/tensor.h"

using namespace llmi;

TEST_CASE("tensors are row-major with element strides") {
  Tensor t({2, 3, 4}, DType::BF16);
  CHECK(t.numel() == 24);
  CHECK(t.nbytes() == 48);
  CHECK(t.strides() == std::vector<int64_t>{12, 4, 1});
  CHECK(t.is_contiguous());
  CHECK(t.shape_str() == "[2, 3, 4] bf16");
  CHECK(t.dim(-1) == 4);
}

TEST_CASE("permute reorders strides and values are read in logical order") {
  std::vector<float> v(6);
  for (int i = 0; i < 6; ++i) v[i] = float(i);
  Tensor t = Tensor::from_float(v, {2, 3}, DType::F32);
  Tensor tt = t.permute({1, 0});
  CHECK(tt.shape() == std::vector<int64_t>{3, 2});
  CHECK_FALSE(tt.is_contiguous());
  CHECK(tt.to_double() == std::vector<double>{0, 3, 1, 4, 2, 5});
  LLMI_REQUIRE_THROWS_WITH(t.permute({0, 0}), "not a permutation");
}

TEST_CASE("from_float rounds to the element type") {
  Tensor t = Tensor::from_float({1.0f + 1.0f / 512, 3.0f}, {2}, DType::BF16);
  CHECK(t.to_double() == std::vector<double>{1.0, 3.0});
  LLMI_REQUIRE_THROWS_WITH(Tensor::from_float({1, 2, 3}, {2, 2}, DType::F32), "do not fill shape");
}

TEST_CASE("poison marks every element until it is written") {
  Tensor t({5}, DType::F16);
  t.poison();
  CHECK(count_poisoned(t) == 5);
  store_from_float(t.raw(), DType::F16, 2, 1.0f);
  CHECK(count_poisoned(t) == 4);
}

TEST_CASE("host random fill is seeded, in range and not degenerate") {
  Tensor a({4096}, DType::F32), b({4096}, DType::F32), c({4096}, DType::F32);
  fill_uniform(a, 7, -2.0f, 3.0f);
  fill_uniform(b, 7, -2.0f, 3.0f);
  fill_uniform(c, 8, -2.0f, 3.0f);
  auto va = a.to_double(), vb = b.to_double(), vc = c.to_double();
  CHECK(va == vb);
  CHECK(va != vc);
  double mean = 0;
  for (double x : va) {
    REQUIRE(x >= -2.0);
    REQUIRE(x < 3.0);
    mean += x / va.size();
  }
  CHECK(mean == test::Approx(0.5).margin(0.1));  // uniform on [-2, 3): mean 0.5, sd 1.44/64
  LLMI_REQUIRE_THROWS_WITH(fill_uniform(a, 1, 1.0f, 1.0f), "empty range");
}
