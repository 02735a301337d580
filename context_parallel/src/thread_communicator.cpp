#include "thread_communicator.h"

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "llmi/check.h"

namespace llmi::cp {
namespace {

// Messages in flight between every ordered pair of ranks. Sends copy eagerly (like a buffered
// send), so a send never waits; a receive waits for the oldest message from its source. FIFO
// order per pair matches MPI's and NCCL's matching of same-peer operations.
struct Mailboxes {
  explicit Mailboxes(int n) : n(n), queue(size_t(n) * n) {}
  int n;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::deque<std::vector<unsigned char>>> queue;  // [from * n + to]
  bool aborted = false;
  std::chrono::duration<double> timeout{60.0};

  void post(int from, int to, const void* data, size_t bytes) {
    const auto* p = static_cast<const unsigned char*>(data);
    std::lock_guard<std::mutex> lock(mu);
    queue[size_t(from) * n + to].emplace_back(p, p + bytes);
    cv.notify_all();
  }

  void take(int from, int to, void* data, size_t bytes) {
    std::unique_lock<std::mutex> lock(mu);
    auto& q = queue[size_t(from) * n + to];
    const bool arrived = cv.wait_for(lock, timeout, [&] { return aborted || !q.empty(); });
    LLMI_REQUIRE(!aborted, "threads communicator: rank " << to << " stops, another rank failed");
    LLMI_REQUIRE(arrived, "threads communicator: rank " << to << " waited " << timeout.count()
                              << " s for a message from rank " << from
                              << " (the ranks made different calls)");
    LLMI_REQUIRE(q.front().size() == bytes, "threads communicator: rank " << to << " expects "
                                                << bytes << " bytes from rank " << from << ", got "
                                                << q.front().size());
    std::memcpy(data, q.front().data(), bytes);
    q.pop_front();
  }

  void abort() {
    std::lock_guard<std::mutex> lock(mu);
    aborted = true;
    cv.notify_all();
  }
};

class ThreadCommunicator final : public Communicator {
 public:
  ThreadCommunicator(Mailboxes& box, int rank) : box_(box), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return box_.n; }
  std::string backend() const override { return "threads"; }

  void start_exchange(const void* send, void* recv, size_t bytes, int to, int from) override {
    LLMI_REQUIRE(!pending_.recv, "start_exchange: the previous exchange was not waited for");
    check_peer(to);
    check_peer(from);
    box_.post(rank_, to, send, bytes);
    pending_ = Pending{recv, bytes, from};
  }

  void wait_exchange() override {
    LLMI_REQUIRE(pending_.recv, "wait_exchange: no exchange was started");
    Pending p = pending_;
    pending_ = Pending{};
    box_.take(p.from, rank_, p.recv, p.bytes);
  }

  void all_to_all(const void* send, void* recv, size_t block) override {
    const auto* s = static_cast<const unsigned char*>(send);
    auto* r = static_cast<unsigned char*>(recv);
    for (int to = 0; to < box_.n; ++to) box_.post(rank_, to, s + to * block, block);
    for (int from = 0; from < box_.n; ++from) box_.take(from, rank_, r + from * block, block);
  }

  void host_all_gather(const void* send, void* recv, size_t bytes) override {
    auto* r = static_cast<unsigned char*>(recv);
    for (int to = 0; to < box_.n; ++to) box_.post(rank_, to, send, bytes);
    for (int from = 0; from < box_.n; ++from) box_.take(from, rank_, r + from * bytes, bytes);
  }

 private:
  void check_peer(int peer) const {
    LLMI_REQUIRE(peer >= 0 && peer < box_.n, "peer rank " << peer << " is outside [0, " << box_.n << ")");
  }
  struct Pending {
    void* recv = nullptr;
    size_t bytes = 0;
    int from = -1;
  };
  Mailboxes& box_;
  int rank_;
  Pending pending_;
};

}  // namespace

void run_ranks(int ranks, const std::function<void(Communicator&)>& fn, double timeout_s) {
  LLMI_REQUIRE(ranks >= 1, "run_ranks needs at least one rank, got " << ranks);
  Mailboxes box(ranks);
  box.timeout = std::chrono::duration<double>(timeout_s);
  std::vector<std::exception_ptr> errors(ranks);
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      try {
        ThreadCommunicator comm(box, r);
        fn(comm);
      } catch (...) {
        errors[r] = std::current_exception();
        box.abort();
      }
    });
  for (auto& t : threads) t.join();
  // The root cause is the first error that is not another rank's "stops" notice.
  std::exception_ptr first;
  for (auto& e : errors) {
    if (!e) continue;
    try {
      std::rethrow_exception(e);
    } catch (const Error& err) {
      if (std::string(err.what()).find("another rank failed") != std::string::npos) {
        if (!first) first = e;
        continue;
      }
      std::rethrow_exception(e);
    } catch (...) {
      std::rethrow_exception(e);
    }
  }
  if (first) std::rethrow_exception(first);
}

}  // namespace llmi::cp
