// CPU tests of the Problem description: offsets, validation messages, FLOP counting, the
// launchers' dtype dispatch and the Flash-Decoding split heuristic.
#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

#include "../kernels/element_type.h"
#include "flash_attention/problem.h"
#include "flash_attention/split_kv.h"
#include "llmi/catch.h"

using namespace flash;
using llmi::DType;

TEST_CASE("cumulative offsets pack sequences end to end") {
  CHECK(cumulative_offsets({3, 5, 0, 1}) == std::vector<int>{0, 3, 8, 8, 9});
  CHECK(cumulative_offsets({}) == std::vector<int>{0});
  LLMI_REQUIRE_THROWS_WITH(cumulative_offsets({2, -1}), "sequence length must be >= 0");
}

TEST_CASE("a varlen problem reports its batch, totals and longest sequences") {
  Problem p;
  p.cu_seqlens_q = cumulative_offsets({1, 67, 128});
  p.cu_seqlens_k = cumulative_offsets({33, 67, 300});
  CHECK(p.batch() == 3);
  CHECK(p.total_q() == 196);
  CHECK(p.total_k() == 400);
  CHECK(p.max_seqlen_q() == 128);
  CHECK(p.max_seqlen_k() == 300);
  CHECK(p.seqlen_k(2) == 300);
  p.head_dim = 128;
  CHECK(p.scale() == llmi::test::Approx(1 / std::sqrt(128.0)));
  p.softmax_scale = 0.5f;
  CHECK(p.scale() == 0.5f);
}

TEST_CASE("validation names the unsupported or inconsistent field") {
  Problem ok = fixed_length_problem(DType::BF16, 2, 8, 2, 128, 10, 12, true);
  REQUIRE_NOTHROW(validate(ok));
  CHECK(ok.group() == 4);

  Problem p = ok;
  p.head_dim = 96;
  LLMI_REQUIRE_THROWS_WITH(validate(p), "head dim 96 is not supported (64, 128, 256)");
  p = ok;
  p.dtype = DType::F32;
  LLMI_REQUIRE_THROWS_WITH(validate(p), "dtype fp32 is not supported");
  p = ok;
  p.heads_kv = 3;
  LLMI_REQUIRE_THROWS_WITH(validate(p), "query heads (8) must be a multiple of kv heads (3)");
  p = ok;
  p.heads_kv = 0;
  LLMI_REQUIRE_THROWS_WITH(validate(p), "head counts must be positive");
  p = ok;
  p.cu_seqlens_q = {0, 5, 4};
  LLMI_REQUIRE_THROWS_WITH(validate(p), "cu_seqlens_q must be non-decreasing");
  p = ok;
  p.cu_seqlens_k = {1, 5, 9};
  LLMI_REQUIRE_THROWS_WITH(validate(p), "cu_seqlens_k[0] must be 0");
  p = ok;
  p.cu_seqlens_k = {0, 5};
  LLMI_REQUIRE_THROWS_WITH(validate(p), "both must be batch + 1");
  p = ok;
  p.cu_seqlens_q = {0};
  LLMI_REQUIRE_THROWS_WITH(validate(p), "needs batch + 1 >= 2 entries");
  p = ok;
  p.softmax_scale = -1;
  LLMI_REQUIRE_THROWS_WITH(validate(p), "softmax scale must be finite");
  p = ok;
  p.head_dim = 64;
  LLMI_REQUIRE_THROWS_WITH(validate(p, {128}), "head dim 64 is not supported (128)");
}

TEST_CASE("FLOPs are counted as FlashAttention's benchmarks count them") {
  // FA2 benchmark: 4 * batch * seqlen^2 * heads * headdim, halved for causal.
  Problem p = fixed_length_problem(DType::BF16, 2, 16, 16, 128, 8192, 8192, false);
  CHECK(forward_flops(p) == 4.0 * 2 * 8192.0 * 8192 * 16 * 128);
  p.causal = true;
  CHECK(forward_flops(p) == 2.0 * 2 * 8192.0 * 8192 * 16 * 128);
  // FA3's rule for Sq != Sk under the causal mask: avg keys = (Sk - Sq + Sk) / 2.
  Problem chunk = fixed_length_problem(DType::BF16, 1, 1, 1, 64, 100, 300, true);
  CHECK(forward_flops(chunk) == 4.0 * 100 * 250 * 64);
  // S and P of the standard implementation: 2 x batch x heads x Sq x Sk elements of 2 bytes.
  CHECK(standard_attention_scratch_bytes(p) == 2.0 * 2 * 16 * 8192.0 * 8192 * 2);
}

TEST_CASE("the launchers' dtype dispatch picks the element type the dtype names") {
  auto element = [](DType dtype) {
    std::string name;
    with_element_type(dtype, [&](auto type) {
      using T = decltype(type);
      name = std::is_same_v<T, __nv_bfloat16> ? "bf16" : std::is_same_v<T, __half> ? "fp16" : "?";
    });
    return name;
  };
  CHECK(element(DType::BF16) == "bf16");
  CHECK(element(DType::F16) == "fp16");
}

TEST_CASE("Flash-Decoding splits the keys to fill one wave of thread blocks") {
  // Batch 1, 8 kv heads on 132 SMs x 1 block: 16 splits, 128 blocks in one wave.
  CHECK(choose_num_splits(8, 132, 2048) == 16);
  // A full machine is not split, nor one that a second wave would be needed to fill.
  CHECK(choose_num_splits(132, 132, 2048) == 1);
  CHECK(choose_num_splits(100, 132, 2048) == 1);
  CHECK(choose_num_splits(400, 132, 2048) == 1);
  // Never more splits than the keys allow.
  CHECK(choose_num_splits(8, 132, 5) == 5);
  // Always one wave: tiles x splits never exceeds the slots unless a tile alone does.
  for (int tiles : {1, 3, 8, 17, 64, 200})
    for (int max_splits : {1, 7, 64, 4096}) {
      const int n = choose_num_splits(tiles, 132, max_splits);
      REQUIRE(n >= 1);
      REQUIRE(n <= max_splits);
      REQUIRE((n == 1 || tiles * n <= 132));
    }
  LLMI_REQUIRE_THROWS_WITH(choose_num_splits(0, 132, 10), "positive sizes");
}
