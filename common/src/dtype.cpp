#include "llmi/dtype.h"

#include "llmi/check.h"

namespace llmi {

DType parse_dtype(const std::string& name) {
  if (name == "fp32" || name == "F32" || name == "float32") return DType::F32;
  if (name == "fp16" || name == "F16" || name == "float16") return DType::F16;
  if (name == "bf16" || name == "BF16" || name == "bfloat16") return DType::BF16;
  if (name == "int8" || name == "I8") return DType::I8;
  if (name == "fp8_e4m3" || name == "F8_E4M3" || name == "float8_e4m3fn") return DType::FP8E4M3;
  throw Error("unknown dtype '" + name + "' (supported: fp32, fp16, bf16, int8, fp8_e4m3)");
}

}  // namespace llmi
