// NCCL backend of Communicator: one rank per GPU, device memory, its own communication stream.
//
// Overlap (paper Alg. 2 line 6, checklist §6.3): start_exchange makes the comm stream wait for
// the compute stream (an event), posts ncclSend and ncclRecv in one group on the comm stream,
// and records a second event; wait_exchange makes the compute stream wait for that event. The
// host never blocks, so the attention kernel of the shard in hand runs while the next one moves.
//
// Bootstrap (research notes §5): rank 0 creates the unique id; it reaches the other ranks over
// MPI (one process per GPU: mpirun, or srun under Slurm) or through memory (one thread per GPU
// in one process, nccl-tests' -t mode).
#pragma once
#include <cuda_runtime.h>
#include <nccl.h>

#include <functional>
#include <memory>

#include "communicator.h"
#include "llmi/device_buffer.h"

namespace llmi::cp {

class NcclCommunicator final : public Communicator {
 public:
  // Joins the clique `id` as `rank` of `size` on `device`; compute work runs on `compute`.
  NcclCommunicator(const ncclUniqueId& id, int rank, int size, int device, cudaStream_t compute);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "nccl"; }
  void start_exchange(const void* send, void* recv, size_t bytes, int to, int from) override;
  void wait_exchange() override;
  void all_to_all(const void* send, void* recv, size_t block_bytes) override;
  void host_all_gather(const void* send, void* recv, size_t bytes) override;

  int device() const { return device_; }
  cudaStream_t comm_stream() const { return comm_stream_; }

 private:
  void after_compute();  // comm stream waits for the work issued so far on the compute stream
  void before_compute(); // compute stream waits for the work issued so far on the comm stream
  ncclComm_t comm_ = nullptr;
  int rank_, size_, device_;
  cudaStream_t compute_, comm_stream_ = nullptr;
  cudaEvent_t compute_done_ = nullptr, comm_done_ = nullptr;
  bool in_flight_ = false;
  DeviceBuffer<unsigned char> staging_;  // host_all_gather's device copy, kept between calls
};

// Checks that this host can give `ranks` ranks one GPU each: a clear error otherwise.
void require_gpus(int ranks, int gpus_visible);

// One rank's GPU: its device, its compute stream and its communicator.
class GpuRank {
 public:
  GpuRank(const ncclUniqueId& id, int rank, int size, int device);
  ~GpuRank();
  GpuRank(const GpuRank&) = delete;
  GpuRank& operator=(const GpuRank&) = delete;
  NcclCommunicator& comm() { return *comm_; }
  cudaStream_t stream() const { return stream_; }
  int device() const { return device_; }

 private:
  int device_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<NcclCommunicator> comm_;
};

// One thread per GPU in this process (no MPI, nccl-tests' -t mode): fn(rank) on GPUs
// 0..gpus-1 at once; the first error is rethrown.
void run_gpu_threads(int gpus, const std::function<void(GpuRank&)>& fn);

}  // namespace llmi::cp
