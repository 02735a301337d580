// MPI backend of Communicator: CPU ranks (CI runs the ring algorithms with mpirun -np 2/3/4),
// and the bootstrap that GPU runs use to share NCCL's unique id (nccl_communicator.h).
//
// Host memory only (no CUDA-aware MPI is assumed). Errors come back as llmi::Error naming the
// call and the rank, not as MPI's default abort.
#pragma once
// The C API only: Open MPI's and MPICH's deprecated C++ bindings warn under -Wextra.
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <memory>

#include "communicator.h"

namespace llmi::cp {

// MPI_Init on construction (with MPI_THREAD_FUNNELED), MPI_Finalize on destruction; one per
// process, for programs and tests that own MPI's lifetime.
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
};

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(MPI_Comm comm = MPI_COMM_WORLD);  // duplicates comm
  ~MpiCommunicator() override;
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }
  void start_exchange(const void* send, void* recv, size_t bytes, int to, int from) override;
  void wait_exchange() override;
  void all_to_all(const void* send, void* recv, size_t block_bytes) override;
  void host_all_gather(const void* send, void* recv, size_t bytes) override;
  MPI_Comm comm() const { return comm_; }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  MPI_Request pending_[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
  bool in_flight_ = false;
};

}  // namespace llmi::cp
