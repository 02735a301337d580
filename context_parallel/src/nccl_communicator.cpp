#include "nccl_communicator.h"

#include <exception>
#include <thread>
#include <vector>

#include "llmi/check.h"
#include "llmi/nccl_check.h"

namespace llmi::cp {

void require_gpus(int ranks, int gpus_visible) {
  LLMI_REQUIRE(gpus_visible >= ranks, ranks << " context-parallel ranks need one GPU each, but only "
                                            << gpus_visible << " GPU(s) are visible on this host "
                                               "(check CUDA_VISIBLE_DEVICES and --gpus-per-task)");
}

NcclCommunicator::NcclCommunicator(const ncclUniqueId& id, int rank, int size, int device,
                                   cudaStream_t compute)
    : rank_(rank), size_(size), device_(device), compute_(compute) {
  LLMI_CUDA_CHECK(cudaSetDevice(device));
  LLMI_CUDA_CHECK(cudaStreamCreateWithFlags(&comm_stream_, cudaStreamNonBlocking));
  LLMI_CUDA_CHECK(cudaEventCreateWithFlags(&compute_done_, cudaEventDisableTiming));
  LLMI_CUDA_CHECK(cudaEventCreateWithFlags(&comm_done_, cudaEventDisableTiming));
  LLMI_NCCL_CHECK(ncclCommInitRank(&comm_, size, id, rank));
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_stream_) cudaStreamSynchronize(comm_stream_);
  if (comm_) ncclCommDestroy(comm_);
  if (compute_done_) cudaEventDestroy(compute_done_);
  if (comm_done_) cudaEventDestroy(comm_done_);
  if (comm_stream_) cudaStreamDestroy(comm_stream_);
}

void NcclCommunicator::after_compute() {
  LLMI_CUDA_CHECK(cudaEventRecord(compute_done_, compute_));
  LLMI_CUDA_CHECK(cudaStreamWaitEvent(comm_stream_, compute_done_, 0));
}

void NcclCommunicator::before_compute() {
  LLMI_CUDA_CHECK(cudaEventRecord(comm_done_, comm_stream_));
  LLMI_CUDA_CHECK(cudaStreamWaitEvent(compute_, comm_done_, 0));
}

void NcclCommunicator::start_exchange(const void* send, void* recv, size_t bytes, int to, int from) {
  LLMI_REQUIRE(!in_flight_, "start_exchange: the previous exchange was not waited for");
  after_compute();  // the shard to send is complete, and nothing still reads the receive buffer
  // One group: send and receive progress together, so neighbours cannot deadlock (NCCL #783).
  LLMI_NCCL_CHECK(ncclGroupStart());
  LLMI_NCCL_CHECK(ncclSend(send, bytes, ncclUint8, to, comm_, comm_stream_));
  LLMI_NCCL_CHECK(ncclRecv(recv, bytes, ncclUint8, from, comm_, comm_stream_));
  LLMI_NCCL_CHECK(ncclGroupEnd());
  in_flight_ = true;
}

void NcclCommunicator::wait_exchange() {
  LLMI_REQUIRE(in_flight_, "wait_exchange: no exchange was started");
  in_flight_ = false;
  before_compute();
}

void NcclCommunicator::all_to_all(const void* send, void* recv, size_t block) {
  after_compute();
  LLMI_NCCL_CHECK(ncclGroupStart());
  for (int p = 0; p < size_; ++p) {
    LLMI_NCCL_CHECK(ncclSend(static_cast<const char*>(send) + p * block, block, ncclUint8, p, comm_, comm_stream_));
    LLMI_NCCL_CHECK(ncclRecv(static_cast<char*>(recv) + p * block, block, ncclUint8, p, comm_, comm_stream_));
  }
  LLMI_NCCL_CHECK(ncclGroupEnd());
  before_compute();
}

void NcclCommunicator::host_all_gather(const void* send, void* recv, size_t bytes) {
  // [own copy | gathered]; grown only when too small (cudaFree would synchronise the device).
  if (staging_.size() < bytes * (size_ + 1)) staging_ = DeviceBuffer<unsigned char>(bytes * (size_ + 1));
  unsigned char* dev = staging_.data();
  LLMI_CUDA_CHECK(cudaMemcpyAsync(dev, send, bytes, cudaMemcpyHostToDevice, comm_stream_));
  LLMI_NCCL_CHECK(ncclAllGather(dev, dev + bytes, bytes, ncclUint8, comm_, comm_stream_));
  LLMI_CUDA_CHECK(cudaMemcpyAsync(recv, dev + bytes, bytes * size_, cudaMemcpyDeviceToHost, comm_stream_));
  LLMI_CUDA_CHECK(cudaStreamSynchronize(comm_stream_));
}

GpuRank::GpuRank(const ncclUniqueId& id, int rank, int size, int device) : device_(device) {
  LLMI_CUDA_CHECK(cudaSetDevice(device));
  LLMI_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  comm_ = std::make_unique<NcclCommunicator>(id, rank, size, device, stream_);  // blocks until all join
}

GpuRank::~GpuRank() {
  if (stream_) cudaStreamSynchronize(stream_);
  comm_.reset();
  if (stream_) cudaStreamDestroy(stream_);
}

void run_gpu_threads(int gpus, const std::function<void(GpuRank&)>& fn) {
  int visible = 0;
  LLMI_CUDA_CHECK(cudaGetDeviceCount(&visible));
  require_gpus(gpus, visible);
  ncclUniqueId id;
  LLMI_NCCL_CHECK(ncclGetUniqueId(&id));  // shared through memory: every thread reads it
  std::vector<std::exception_ptr> errors(gpus);
  std::vector<std::thread> threads;
  for (int r = 0; r < gpus; ++r)
    threads.emplace_back([&, r] {
      try {
        GpuRank rank(id, r, gpus, r);
        fn(rank);
        LLMI_CUDA_CHECK(cudaStreamSynchronize(rank.stream()));
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace llmi::cp
