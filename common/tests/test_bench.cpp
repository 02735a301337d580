// The harness's statistics and command line (CPU side; GPU timing is in test_device_gpu.cu).
#include <cmath>
#include <cstdlib>
#include <string>

#include "llmi/bench.h"
#include "llmi/catch.h"

using namespace llmi;
using test::Approx;

TEST_CASE("summarize: median, min and interpolated percentiles") {
  bench::Stats s = bench::summarize({5, 1, 4, 2, 3});
  CHECK(s.n == 5);
  CHECK(s.median == 3);
  CHECK(s.min == 1);
  CHECK(s.mean == 3);
  CHECK(s.p10 == Approx(1.4));  // rank 0.4 between 1 and 2
  CHECK(s.p90 == Approx(4.6));
  CHECK(bench::summarize({1, 2, 3, 4}).median == Approx(2.5));
  CHECK(std::isnan(bench::summarize({}).median));
}

namespace {
int parse(bench::Options& o, std::vector<std::string> args) {
  CLI::App app{"t"};
  bench::add_options(app, o);
  std::vector<std::string> rev(args.rbegin(), args.rend());  // CLI11 parses a reversed vector
  try {
    app.parse(rev);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return 0;
}
}  // namespace

TEST_CASE("common benchmark options parse and are validated") {
  bench::Options o;
  REQUIRE(parse(o, {"--warmup", "3", "--iters", "7", "--json", "x.json", "--no-check", "--quick"}) == 0);
  CHECK(o.warmup == 3);
  CHECK(o.iters == 7);
  CHECK(o.json == "x.json");
  CHECK_FALSE(o.check);
  CHECK(o.quick);
  bench::Options bad;
  CHECK(parse(bad, {"--iters", "0"}) != 0);
  CHECK(parse(bad, {"--device", "-1"}) != 0);
  CHECK(parse(bad, {"--bogus"}) != 0);
}

TEST_CASE("report: rates from flops/bytes and median time; failed checks are counted") {
  bench::Options o;
  char arg0[] = "bench";
  char* argv[] = {arg0};
  bench::Report rep("t", o, 1, argv);
  bench::Result r;
  r.name = "c";
  r.ms = bench::summarize({2.0});
  r.flops = 4e12;  // 4e12 flop in 2 ms = 2000 TFLOP/s
  r.bytes = 6e9;   // 6e9 B in 2 ms = 3000 GB/s
  rep.add(r);
  r.check_ok = false;
  rep.add(r);
  auto j = rep.to_json();
  CHECK(j["results"][0]["tflops"].get<double>() == Approx(2000));
  CHECK(j["results"][0]["gbps"].get<double>() == Approx(3000));
  CHECK(j["meta"].contains("git_sha"));
  CHECK(rep.finish() == 1);
}

TEST_CASE("run metadata names the commit the binary was built from, or LLMI_GIT_SHA's") {
  unsetenv("LLMI_GIT_SHA");
  const std::string built = bench::run_metadata("x")["git_sha"];
  // 12 hex digits, "-dirty" if tracked files differed from that commit; "unknown" without git
  const bool sha = built.size() >= 12 && built.find_first_not_of("0123456789abcdef") >= 12 &&
                   (built.size() == 12 || built.substr(12) == "-dirty");
  CHECK((sha || built == "unknown"));
  setenv("LLMI_GIT_SHA", "0123456789ab", 1);
  CHECK(bench::run_metadata("x")["git_sha"] == "0123456789ab");
  unsetenv("LLMI_GIT_SHA");
}
