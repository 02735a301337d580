// NCCL over MPI: each process (mpirun or srun, one task per GPU) takes the GPU of its rank among
// the processes of its host; rank 0's ncclUniqueId reaches the others with MPI_Bcast.
#include <cuda_runtime.h>

#include "llmi/check.h"
#include "llmi/nccl_check.h"
#include "nccl_mpi_bootstrap.h"

namespace llmi::cp {

int local_rank(MpiCommunicator& mpi) {
  MPI_Comm node = MPI_COMM_NULL;
  int r = 0;
  LLMI_REQUIRE(MPI_Comm_split_type(mpi.comm(), MPI_COMM_TYPE_SHARED, mpi.rank(), MPI_INFO_NULL, &node) == MPI_SUCCESS,
               "MPI_Comm_split_type failed on rank " << mpi.rank());
  MPI_Comm_rank(node, &r);
  MPI_Comm_free(&node);
  return r;
}

std::unique_ptr<GpuRank> gpu_rank_from_mpi(MpiCommunicator& mpi, int device) {
  int visible = 0;
  LLMI_CUDA_CHECK(cudaGetDeviceCount(&visible));
  const int local = device >= 0 ? device : local_rank(mpi);
  // A host running more ranks than it has GPUs is the "GPU count does not match" error.
  require_gpus(local + 1, visible);
  ncclUniqueId id;
  if (mpi.rank() == 0) LLMI_NCCL_CHECK(ncclGetUniqueId(&id));
  LLMI_REQUIRE(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, mpi.comm()) == MPI_SUCCESS,
               "MPI_Bcast of the NCCL id failed on rank " << mpi.rank());
  return std::make_unique<GpuRank>(id, mpi.rank(), mpi.size(), local);
}

}  // namespace llmi::cp
