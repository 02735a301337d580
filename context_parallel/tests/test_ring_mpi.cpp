// pass-KV, pass-Q and decode with one process per rank over MPI (ctest runs it with
// mpirun -np 2, 3, 4, and alone for N = 1), against single-rank fp64 attention.
//
// Every rank gathers every rank's output, so all ranks reach the same verdict and make the same
// calls. An exception inside a ring would leave the other ranks waiting: abort the job instead.
#include <cstdio>
#include <exception>

#include "llmi/catch.h"
#include "mpi_communicator.h"
#include "ring_harness.h"

using namespace llmi;
using namespace llmi::cp;
using namespace llmi::cp::test;

namespace {
// MPI lives as long as the process: initialised before Catch's main runs any test.
MpiSession& session() {
  static MpiSession s(nullptr, nullptr);
  return s;
}
const bool kMpiStarted = (session(), true);

template <class Fn>
Verdict or_abort(Fn fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank error, aborting the job: %s\n", e.what());
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  return {};
}
}  // namespace

TEST_CASE("MPI ring prefill equals single-rank attention") {
  REQUIRE(kMpiStarted);
  MpiCommunicator comm;
  for (Variant variant : {Variant::PassKV, Variant::PassQ})
    for (const Scenario& sc : prefill_scenarios()) {
      INFO("N=" << comm.size() << " " << variant_name(variant) << " " << sc.name);
      Verdict v = or_abort([&] { return run_prefill(comm, CpuF64{}, variant, sc); });
      INFO(v.str());
      CHECK(v.ok(1e-12));
    }
}

TEST_CASE("MPI ring decode (Alg. 4) equals single-rank attention") {
  MpiCommunicator comm;
  Verdict v = or_abort([&] { return run_decode(comm, CpuF64{}, Variant::PassQ, decode_scenario(), 4, true); });
  INFO("N=" << comm.size() << " " << v.str());
  CHECK(v.ok(1e-12));
}

TEST_CASE("MPI ranks holding different plans get a clear error, not a hang") {
  MpiCommunicator comm;
  const CpPlan p = plan_prefill({{0, comm.rank() == 0 ? 12 : 14}}, KvPlacement(comm.size(), 1));
  if (comm.size() > 1)
    LLMI_REQUIRE_THROWS_WITH(check_plan(comm, p), "hold different sharding plans");
  else
    check_plan(comm, p);  // one rank always agrees with itself
  const CpPlan other = plan_prefill({{0, 12}}, KvPlacement(comm.size() + 1, 1));
  LLMI_REQUIRE_THROWS_WITH(check_plan(comm, other), "but the communicator has");
}
