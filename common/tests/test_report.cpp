#include "llmi/bench.h"
#include "llmi/catch.h"
#include "llmi/report.h"

using namespace llmi;

TEST_CASE("the report shows the headline, the run, and each rate beside its ceiling") {
  nlohmann::json doc = {
      {"benchmark", "paged_attention"},
      {"headline", {{"measured", "2.6 TB/s decode"}, {"paper", "20-26% overhead"}}},
      {"meta", {{"gpu", "NVIDIA H100"}, {"date", "2026-11-27"}, {"git_sha", "abc123"},
                {"cmdline", "paged_attention_bench --quick"}}},
      {"ceilings", {{"gemm_bf16_tflops", 800.0}, {"copy_gbps", 3000.0}}},
      {"results",
       {{{"case", "decode_b64"}, {"time_ms", {{"median", 0.5}}}, {"gbps", 2400.0},
         {"check", "rel_l2=1e-3"}, {"check_ok", true},
         {"baseline", {{"name", "contiguous"}, {"median_ms", 0.45}}}},
        {{"case", "broken"}, {"time_ms", {{"median", 1.0}}}, {"tflops", 400.0},
         {"check", "rel_l2=1"}, {"check_ok", false}}}}};
  nlohmann::json empty = {{"benchmark", "flash_attention"}, {"results", nlohmann::json::array()}};
  std::string md = render_report({doc, empty});
  CHECK_THAT(md, test::contains("## paged_attention"));
  CHECK_THAT(md, test::contains("**Measured:** 2.6 TB/s decode"));
  CHECK_THAT(md, test::contains("**Paper / peer:** 20-26% overhead"));
  CHECK_THAT(md, test::contains("commit `abc123`"));
  CHECK_THAT(md, test::contains("2400 (80%)"));     // GB/s beside % of the copy ceiling
  CHECK_THAT(md, test::contains("400.0 (50%)"));    // TFLOP/s beside % of the GEMM peak
  CHECK_THAT(md, test::contains("contiguous 0.90x"));
  CHECK_THAT(md, test::contains("**FAIL** rel_l2=1"));
  CHECK_THAT(md, test::contains("## flash_attention"));
  CHECK_THAT(md, test::contains("No results"));
}

TEST_CASE("a Report's JSON renders without a GPU") {
  bench::Options o;
  char a0[] = "x";
  char* argv[] = {a0};
  bench::Report rep("cpu_only", o, 1, argv);
  rep.set_headline("waste 3.1%", "under 4%");
  bench::Result r;
  r.name = "sim";
  r.ms = bench::summarize({1.0, 2.0, 3.0});
  rep.add(r);
  std::string md = render_report({rep.to_json()});
  CHECK_THAT(md, test::contains("**Measured:** waste 3.1%"));
  CHECK_THAT(md, test::contains("| sim | 2.0000 |"));
}
