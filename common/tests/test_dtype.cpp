// Conversions are exhaustively round-tripped and checked on hand-computed encodings.
#include <cmath>
#include <limits>

#include "llmi/catch.h"
#include "llmi/check.h"
#include "llmi/dtype.h"

using namespace llmi;

TEST_CASE("bf16 encodes known values and rounds to nearest even") {
  CHECK(f32_to_bf16_bits(1.0f) == 0x3f80);
  CHECK(f32_to_bf16_bits(-2.0f) == 0xc000);
  // 1 + 2^-8 is exactly halfway between bf16 1.0 and 1.0078125: ties go to the even mantissa.
  CHECK(f32_to_bf16_bits(1.0f + 1.0f / 256) == 0x3f80);
  CHECK(f32_to_bf16_bits(1.0f + 3.0f / 256) == 0x3f82);
  CHECK(f32_to_bf16_bits(1.0f + 1.5f / 256) == 0x3f81);  // above the tie: rounds up
  CHECK(std::isnan(bf16_bits_to_f32(f32_to_bf16_bits(std::numeric_limits<float>::quiet_NaN()))));
  CHECK(std::isinf(bf16_bits_to_f32(f32_to_bf16_bits(std::numeric_limits<float>::infinity()))));
}

TEST_CASE("every bf16, fp16 and e4m3 value round-trips through fp32") {
  for (uint32_t b = 0; b < 65536; ++b) {
    float f = bf16_bits_to_f32(uint16_t(b));
    if (!std::isnan(f)) REQUIRE(f32_to_bf16_bits(f) == b);
    float h = f16_bits_to_f32(uint16_t(b));
    if (!std::isnan(h)) REQUIRE(f32_to_f16_bits(h) == b);
  }
  for (uint32_t b = 0; b < 256; ++b) {
    float f = e4m3_bits_to_f32(uint8_t(b));
    if (!std::isnan(f)) REQUIRE(f32_to_e4m3_bits(f) == b);
  }
}

TEST_CASE("fp16 handles subnormals, overflow and ties") {
  CHECK(f32_to_f16_bits(1.0f) == 0x3c00);
  CHECK(f32_to_f16_bits(65504.0f) == 0x7bff);           // largest finite
  CHECK(f32_to_f16_bits(65520.0f) == 0x7c00);           // halfway to 2^16 rounds to inf
  CHECK(f32_to_f16_bits(5.9604644775390625e-8f) == 1);  // smallest subnormal, 2^-24
  CHECK(f32_to_f16_bits(2.98023223876953125e-8f) == 0); // 2^-25: tie to even (zero)
  CHECK(f32_to_f16_bits(8.940696716308594e-8f) == 2);   // 1.5 * 2^-24: tie to even (2)
  CHECK(f32_to_f16_bits(1.0f + 1.0f / 2048) == 0x3c00); // tie at 1 + 2^-11 -> even
}

TEST_CASE("fp8 e4m3 saturates at 448 and encodes subnormals") {
  CHECK(e4m3_bits_to_f32(0x7e) == 448.0f);
  CHECK(f32_to_e4m3_bits(1000.0f) == 0x7e);
  CHECK(f32_to_e4m3_bits(-1000.0f) == 0xfe);
  CHECK(f32_to_e4m3_bits(1.0f) == 0x38);
  CHECK(e4m3_bits_to_f32(0x01) == 0.001953125f);  // 2^-9
  CHECK(f32_to_e4m3_bits(0.0009765625f) == 0x00); // 2^-10: tie to even (zero)
  CHECK(std::isnan(e4m3_bits_to_f32(0x7f)));
}

TEST_CASE("int8 stores saturate and round half away from zero") {
  int8_t v[4];
  store_from_float(v, DType::I8, 0, 2.5f);
  store_from_float(v, DType::I8, 1, -2.5f);
  store_from_float(v, DType::I8, 2, 300.0f);
  store_from_float(v, DType::I8, 3, -300.0f);
  CHECK(v[0] == 3);
  CHECK(v[1] == -3);
  CHECK(v[2] == 127);
  CHECK(v[3] == -128);
}

TEST_CASE("dtype names parse, unknown names are rejected by name") {
  CHECK(parse_dtype("BF16") == DType::BF16);
  CHECK(parse_dtype("F8_E4M3") == DType::FP8E4M3);
  CHECK(dtype_size(DType::F16) == 2);
  LLMI_REQUIRE_THROWS_WITH(parse_dtype("F64"), "unknown dtype 'F64'");
}
