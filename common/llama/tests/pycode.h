// Locating the pycode-19m checkpoint in tests: a missing directory fails the test, loudly.
#pragma once
#include <sys/stat.h>

#include <string>

#include "llmi/check.h"

namespace llmi::llama::test {

inline std::string pycode_dir() {
  const std::string dir = LLMI_PYCODE_DIR;
  struct stat st {};
  LLMI_REQUIRE(::stat((dir + "/config.json").c_str(), &st) == 0,
               "pycode-19m not found at " << dir
                                          << " (CI and dev machines keep shared/ beside the "
                                             "repository; copy or link it there)");
  return dir;
}

}  // namespace llmi::llama::test
