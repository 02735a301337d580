// Error checking for CUDA runtime and cuBLAS calls, kernel launches and user input.
//
// Every failure throws llmi::Error with the failing expression, file:line and the library's own
// error string, so tests can assert on bad input and programs exit with a readable message
// instead of crashing. NCCL's macro lives in nccl_check.h (NCCL is optional at build time).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <sstream>
#include <stdexcept>
#include <string>

namespace llmi {

// All errors this project reports: bad input, failed library calls, missing files.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
[[noreturn]] inline void fail(const char* what, const std::string& detail, const char* file,
                              int line) {
  std::ostringstream os;
  os << what << " failed: " << detail << " (" << file << ":" << line << ")";
  throw Error(os.str());
}
}  // namespace detail

}  // namespace llmi

#define LLMI_CUDA_CHECK(expr)                                                               \
  do {                                                                                      \
    cudaError_t llmi_err_ = (expr);                                                         \
    if (llmi_err_ != cudaSuccess)                                                           \
      ::llmi::detail::fail(#expr,                                                           \
                           std::string(cudaGetErrorName(llmi_err_)) + ": " +                \
                               cudaGetErrorString(llmi_err_),                               \
                           __FILE__, __LINE__);                                             \
  } while (0)

#define LLMI_CUBLAS_CHECK(expr)                                                             \
  do {                                                                                      \
    cublasStatus_t llmi_st_ = (expr);                                                       \
    if (llmi_st_ != CUBLAS_STATUS_SUCCESS)                                                  \
      ::llmi::detail::fail(#expr,                                                           \
                           std::string(cublasGetStatusName(llmi_st_)) + ": " +              \
                               cublasGetStatusString(llmi_st_),                             \
                           __FILE__, __LINE__);                                             \
  } while (0)

// After a <<<...>>> launch: catches bad configurations at once (cudaGetLastError) without
// synchronising; faults inside the kernel surface at the next checked synchronising call.
#define LLMI_LAUNCH_CHECK() LLMI_CUDA_CHECK(cudaGetLastError())

// Input validation: LLMI_REQUIRE(n % 8 == 0, "head dim " << d << " is not supported").
#define LLMI_REQUIRE(cond, msg)                                                             \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::ostringstream llmi_os_;                                                          \
      llmi_os_ << msg;                                                                      \
      throw ::llmi::Error(llmi_os_.str());                                                  \
    }                                                                                       \
  } while (0)
