// main() for every Catch2 test executable (Catch2 2.13 has no SKIP, so skipping happens here).
//
// Built twice: as llmi::test_main for CPU tests, and with LLMI_TEST_NEEDS_GPU for GPU tests,
// which exit with 77 (CTest's SKIP_RETURN_CODE) when no CUDA device is usable, so a machine
// without a GPU reports them as skipped, never as passed. Listing tests never skips.
#include <cstdio>
#include <cstring>

#if __has_include(<catch2/catch_session.hpp>)
#include <catch2/catch_session.hpp>
#else
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#endif

#include "llmi/device.h"

int main(int argc, char** argv) {
#ifdef LLMI_TEST_NEEDS_GPU
  bool listing = false;
  for (int i = 1; i < argc; ++i) listing |= std::strncmp(argv[i], "--list", 6) == 0;
  if (!listing && !llmi::has_cuda_device()) {
    std::puts("SKIP: no CUDA device");
    return 77;
  }
#endif
  return Catch::Session().run(argc, argv);
}
