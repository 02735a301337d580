#include <cmath>
#include <limits>

#include "llmi/catch.h"
#include "llmi/check.h"
#include "llmi/compare.h"

using namespace llmi;

TEST_CASE("relative L2 error and max abs error match hand computation") {
  // out - ref = (0, 3, -4): ||.|| = 5; ||ref|| = sqrt(100 + 0 + 0) = 10.
  Comparison c = compare(std::vector<double>{10, 3, -4}, std::vector<double>{10, 0, 0});
  CHECK(c.rel_l2 == test::Approx(0.5));
  CHECK(c.max_abs == test::Approx(4.0));
  CHECK(c.nonfinite == 0);
  CHECK(c.ok(0.5));
  CHECK_FALSE(c.ok(0.49));
}

TEST_CASE("NaN or Inf in the output never passes") {
  Comparison c = compare(std::vector<double>{1, std::nan("")}, std::vector<double>{1, 1});
  CHECK(c.nonfinite == 1);
  CHECK_FALSE(c.ok(1e30));
  Comparison d = compare(std::vector<double>{std::numeric_limits<double>::infinity()},
                         std::vector<double>{1});
  CHECK_FALSE(d.ok(1e30));
}

TEST_CASE("a zero reference is matched only by zeros") {
  CHECK(compare(std::vector<double>{0, 0}, std::vector<double>{0, 0}).ok(0));
  CHECK_FALSE(compare(std::vector<double>{0, 1e-3}, std::vector<double>{0, 0}).ok(1));
}

TEST_CASE("mismatched sizes and shapes are errors") {
  LLMI_REQUIRE_THROWS_WITH(compare(std::vector<double>{1}, std::vector<double>{1, 2}),
                           "output has 1 elements, reference 2");
  LLMI_REQUIRE_THROWS_WITH(compare(Tensor({2, 2}, DType::F32), Tensor({4}, DType::F32)),
                           "shape mismatch");
}
