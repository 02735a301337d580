// Threads backend: N ranks as N threads of one process, exchanging messages through shared
// mailboxes. Lets every ring algorithm be tested at N = 1..4 in a plain CPU test, without MPI.
//
//   run_ranks(4, [&](Communicator& comm) { ... the code of one rank ... });
//
// A rank that throws aborts the group: the others stop waiting and the first error is rethrown
// by run_ranks, so a bug shows as an error, never as a hang.
#pragma once
#include <functional>
#include <memory>

#include "communicator.h"

namespace llmi::cp {

// Runs fn once per rank on its own thread and waits for all; rethrows the first rank's error.
// A receive that waits longer than `timeout_s` (a rank stopped calling) throws.
void run_ranks(int ranks, const std::function<void(Communicator&)>& fn, double timeout_s = 60.0);

}  // namespace llmi::cp
