// NCCL bootstrapped over MPI: one process per GPU (mpirun, or srun under Slurm).
#pragma once
#include <memory>

#include "mpi_communicator.h"
#include "nccl_communicator.h"

namespace llmi::cp {

// This process's rank among the processes on its host (its GPU index).
int local_rank(MpiCommunicator& mpi);

// Takes GPU `device` (default: local_rank(mpi), the usual one task per GPU of a node), joins an
// NCCL clique of all MPI ranks (rank 0's unique id reaches the others with MPI_Bcast). A host
// with more ranks than GPUs, or a device that does not exist, is a clear error.
std::unique_ptr<GpuRank> gpu_rank_from_mpi(MpiCommunicator& mpi, int device = -1);

}  // namespace llmi::cp
