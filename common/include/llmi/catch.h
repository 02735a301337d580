// One include for tests, whichever Catch2 the system has: 2.13 (Debian 12: single header, no
// SKIP) or 3.x (Ubuntu 24.04: split headers). Tests include this, never Catch2 directly.
#pragma once
#if __has_include(<catch2/catch_test_macros.hpp>)
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#define LLMI_CATCH_VERSION 3
namespace llmi::test {
using Approx = Catch::Approx;
inline auto contains(const std::string& s) { return Catch::Matchers::ContainsSubstring(s); }
}  // namespace llmi::test
#else
#include <catch2/catch.hpp>
#define LLMI_CATCH_VERSION 2
namespace llmi::test {
using Approx = Catch::Detail::Approx;
inline auto contains(const std::string& s) { return Catch::Matchers::Contains(s); }
}  // namespace llmi::test
#endif

// REQUIRE_THROWS_WITH on a substring of the message: errors must name the problem.
#define LLMI_REQUIRE_THROWS_WITH(expr, substr) \
  REQUIRE_THROWS_WITH(expr, ::llmi::test::contains(substr))
