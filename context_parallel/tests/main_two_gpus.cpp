// main() for tests that need two GPUs of one host: exit 77 (CTest: skipped) with fewer.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstring>

#if __has_include(<catch2/catch_session.hpp>)
#include <catch2/catch_session.hpp>
#else
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#endif

int main(int argc, char** argv) {
  bool listing = false;
  for (int i = 1; i < argc; ++i) listing |= std::strncmp(argv[i], "--list", 6) == 0;
  int gpus = 0;
  if (cudaGetDeviceCount(&gpus) != cudaSuccess) gpus = 0;
  if (!listing && gpus < 2) {
    std::printf("SKIP: needs 2 GPUs, %d visible\n", gpus);
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
