// The communication a ring-attention rank needs, behind one small interface, so the same ring
// code (ring_attention.h) runs on GPUs over NCCL and on CPU ranks over MPI or threads (CI).
//
// Memory: pointers are in the backend's memory space (device memory for NCCL, host memory for
// MPI and threads), except host_all_gather, which always takes host memory.
// Order: a call sees the results of all engine work issued before it (host engines finish
// before returning; the NCCL backend makes its stream wait on the compute stream).
// Every rank must make the same sequence of calls (as with NCCL and MPI collectives);
// the ring algorithms guarantee it because every rank runs the same plan.
#pragma once
#include <cstddef>
#include <string>

namespace llmi::cp {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;  // "nccl", "mpi", "threads"

  // Starts one ring step: send `bytes` from `send` to rank `to` and receive `bytes` from rank
  // `from` into `recv`, posted together (one NCCL group / one pair of MPI requests) so that
  // neither direction can block the other (NCCL #783: P2P that must progress concurrently has
  // to be in one group). Returns at once; the attention of the shard in hand runs meanwhile.
  // Neither buffer may be touched until wait_exchange(). One exchange at a time.
  virtual void start_exchange(const void* send, void* recv, size_t bytes, int to, int from) = 0;
  // Completes the exchange started last (for NCCL: orders the compute stream after it).
  virtual void wait_exchange() = 0;

  // Personalised all-to-all of equal blocks, as grouped send/recv: block i of `send` goes to
  // rank i, block j of `recv` comes from rank j. [size() * block_bytes] each.
  virtual void all_to_all(const void* send, void* recv, size_t block_bytes) = 0;

  // Every rank's `bytes` from `send` land in recv [size() * bytes], in rank order (host memory).
  virtual void host_all_gather(const void* send, void* recv, size_t bytes) = 0;
};

}  // namespace llmi::cp
