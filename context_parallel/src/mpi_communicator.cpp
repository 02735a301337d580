#include "mpi_communicator.h"

#include <climits>
#include <string>
#include <vector>

#include "llmi/check.h"

namespace llmi::cp {
namespace {

int world_rank() {
  int r = -1, init = 0;
  MPI_Initialized(&init);
  if (init) MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

void mpi_check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw Error(std::string(what) + " failed on MPI rank " + std::to_string(world_rank()) + ": " + msg);
}
#define LLMI_MPI_CHECK(call) mpi_check((call), #call)

// MPI counts are int: messages above 2 GiB would need derived datatypes, which CPU runs never need.
int count_of(size_t bytes) {
  LLMI_REQUIRE(bytes <= size_t(INT_MAX), "MPI message of " << bytes << " bytes exceeds 2 GiB");
  return int(bytes);
}

constexpr int kRingTag = 71, kAllToAllTag = 72;

}  // namespace

MpiSession::MpiSession(int* argc, char*** argv) {
  int provided = 0;
  LLMI_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

MpiSession::~MpiSession() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

MpiCommunicator::MpiCommunicator(MPI_Comm comm) {
  int init = 0;
  MPI_Initialized(&init);
  LLMI_REQUIRE(init, "MpiCommunicator: MPI is not initialised (create an MpiSession first)");
  LLMI_MPI_CHECK(MPI_Comm_dup(comm, &comm_));
  LLMI_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  LLMI_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  LLMI_MPI_CHECK(MPI_Comm_size(comm_, &size_));
}

MpiCommunicator::~MpiCommunicator() {
  if (in_flight_) MPI_Waitall(2, pending_, MPI_STATUSES_IGNORE);
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

void MpiCommunicator::start_exchange(const void* send, void* recv, size_t bytes, int to, int from) {
  LLMI_REQUIRE(!in_flight_, "start_exchange: the previous exchange was not waited for");
  LLMI_REQUIRE(to >= 0 && to < size_ && from >= 0 && from < size_,
               "ring peers " << to << ", " << from << " are outside [0, " << size_ << ")");
  const int n = count_of(bytes);
  // The receive is posted first, then the send: both in flight together, so no rank can block
  // its neighbour (the MPI analogue of one ncclGroupStart/End around ncclSend and ncclRecv).
  LLMI_MPI_CHECK(MPI_Irecv(recv, n, MPI_BYTE, from, kRingTag, comm_, &pending_[0]));
  LLMI_MPI_CHECK(MPI_Isend(send, n, MPI_BYTE, to, kRingTag, comm_, &pending_[1]));
  in_flight_ = true;
}

void MpiCommunicator::wait_exchange() {
  LLMI_REQUIRE(in_flight_, "wait_exchange: no exchange was started");
  in_flight_ = false;
  MPI_Status st[2];
  LLMI_MPI_CHECK(MPI_Waitall(2, pending_, st));
}

void MpiCommunicator::all_to_all(const void* send, void* recv, size_t block) {
  // Grouped point-to-point, as NCCL does it (ncclGroupStart; ncclSend/ncclRecv per peer).
  const int n = count_of(block);
  std::vector<MPI_Request> req(2 * size_);
  for (int p = 0; p < size_; ++p)
    LLMI_MPI_CHECK(MPI_Irecv(static_cast<char*>(recv) + p * block, n, MPI_BYTE, p, kAllToAllTag,
                             comm_, &req[p]));
  for (int p = 0; p < size_; ++p)
    LLMI_MPI_CHECK(MPI_Isend(static_cast<const char*>(send) + p * block, n, MPI_BYTE, p,
                             kAllToAllTag, comm_, &req[size_ + p]));
  LLMI_MPI_CHECK(MPI_Waitall(int(req.size()), req.data(), MPI_STATUSES_IGNORE));
}

void MpiCommunicator::host_all_gather(const void* send, void* recv, size_t bytes) {
  const int n = count_of(bytes);
  LLMI_MPI_CHECK(MPI_Allgather(send, n, MPI_BYTE, recv, n, MPI_BYTE, comm_));
}

}  // namespace llmi::cp
