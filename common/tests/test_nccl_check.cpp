// LLMI_NCCL_CHECK names the failing call and carries NCCL's own error text. Runs with or without
// a GPU: a communicator of -1 ranks is rejected either way (for a different reason without one).
#include "llmi/catch.h"
#include "llmi/device.h"
#include "llmi/nccl_check.h"

TEST_CASE("NCCL failures throw with the call and NCCL's message") {
  ncclComm_t comm = nullptr;
  ncclUniqueId id{};
  LLMI_REQUIRE_THROWS_WITH([&] { LLMI_NCCL_CHECK(ncclCommInitRank(&comm, -1, id, 0)); }(),
                           "ncclCommInitRank(&comm, -1, id, 0) failed: ");
  int v = 0;
  LLMI_NCCL_CHECK(ncclGetVersion(&v));
  CHECK(v >= 21800);  // NCCL 2.18 or newer
  CHECK(llmi::nccl_version().rfind("2.", 0) == 0);
}
