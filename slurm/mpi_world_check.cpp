// Fails a multi-task Slurm job before its benchmark when MPI did not join srun's tasks into one
// world. If srun's PMI plugin does not match the MPI library (e.g. --mpi=none with an Open MPI
// built for PMIx), every task starts as a singleton of size 1: each would then run the whole
// benchmark alone and the job would "succeed" with meaningless figures.
//
//   srun --mpi=pmix build/release/slurm/llmi_mpi_world_check
#include <mpi.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const char* ntasks = std::getenv("SLURM_NTASKS");
  int rc = 0;
  if (ntasks == nullptr) {
    std::fprintf(stderr, "llmi_mpi_world_check: SLURM_NTASKS is not set (run it under srun)\n");
    rc = 2;
  } else if (std::atoi(ntasks) != size) {
    // Every rank reports: with singletons there is no rank 0 of a shared world to speak for all.
    std::fprintf(stderr,
                 "llmi_mpi_world_check: MPI world size %d but SLURM_NTASKS=%s: srun and MPI do "
                 "not share a PMI (try srun --mpi=pmix or --mpi=pmi2; see `srun --mpi=list`)\n",
                 size, ntasks);
    rc = 1;
  } else if (rank == 0) {
    std::printf("llmi_mpi_world_check: MPI world size %d = SLURM_NTASKS\n", size);
  }
  MPI_Finalize();
  return rc;
}
