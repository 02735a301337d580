#include "paged/kv_allocators.h"

#include <algorithm>
#include <iterator>
#include <string>

#include "llmi/check.h"

namespace paged {

const char* policy_name(KvPolicy p) {
  switch (p) {
    case KvPolicy::Paged: return "paged";
    case KvPolicy::OrcaMax: return "orca-max";
    case KvPolicy::OrcaPow2: return "orca-pow2";
    case KvPolicy::OrcaOracle: return "orca-oracle";
  }
  return "?";
}

KvPolicy parse_policy(const std::string& n) {
  for (KvPolicy p : {KvPolicy::Paged, KvPolicy::OrcaMax, KvPolicy::OrcaPow2, KvPolicy::OrcaOracle})
    if (n == policy_name(p)) return p;
  throw llmi::Error("unknown KV policy '" + n + "' (paged, orca-max, orca-pow2, orca-oracle)");
}

// --- first-fit ranges ------------------------------------------------------------------------

FirstFitRanges::FirstFitRanges(int64_t capacity) : free_total_(capacity) {
  LLMI_REQUIRE(capacity > 0, "KV capacity must be positive, got " << capacity);
  holes_[0] = capacity;
}

int64_t FirstFitRanges::allocate(int64_t size) {
  for (auto it = holes_.begin(); it != holes_.end(); ++it) {
    if (it->second < size) continue;
    const int64_t off = it->first, rest = it->second - size;
    holes_.erase(it);
    if (rest > 0) holes_[off + size] = rest;
    free_total_ -= size;
    return off;
  }
  return -1;
}

void FirstFitRanges::free(int64_t off, int64_t size) {
  free_total_ += size;
  auto next = holes_.lower_bound(off);
  if (next != holes_.end() && next->first == off + size) {  // merge with the hole after
    size += next->second;
    next = holes_.erase(next);
  }
  if (next != holes_.begin()) {  // merge with the hole before
    auto prev = std::prev(next);
    if (prev->first + prev->second == off) {
      prev->second += size;
      return;
    }
  }
  holes_[off] = size;
}

int64_t FirstFitRanges::largest_hole() const {
  int64_t m = 0;
  for (const auto& h : holes_) m = std::max(m, h.second);
  return m;
}

// --- policies --------------------------------------------------------------------------------

namespace {

class PagedAllocator : public KvAllocator {
 public:
  PagedAllocator(int64_t capacity_tokens, int block_size, int64_t cpu_tokens)
      : bm_([&] {
          BlockManagerConfig c;
          c.num_gpu_blocks = int(capacity_tokens / block_size);
          c.num_cpu_blocks = int(cpu_tokens / block_size);
          c.block_size = block_size;
          c.prefix_caching = false;  // synthetic prompts share nothing
          return c;
        }()) {}
  bool admit(int req, int prompt_len, int) override {
    if (bm_.can_allocate(prompt_len) != AllocStatus::Ok) return false;
    return bm_.allocate(req, std::vector<Token>(size_t(prompt_len), 0)).ok;
  }
  bool grow(int req, int new_len) override {
    LLMI_REQUIRE(new_len == bm_.seq_len(req) + 1, "paged grow must add exactly one token");
    return bm_.append(req, {0}).ok;
  }
  void release(int req) override { bm_.free(req); }
  int64_t reserved_slots() const override {
    return int64_t(bm_.num_gpu_blocks() - bm_.num_free_gpu_blocks()) * bm_.block_size();
  }
  int64_t capacity_slots() const override { return int64_t(bm_.num_gpu_blocks()) * bm_.block_size(); }
  int64_t swap_out(int req) override {
    auto moves = bm_.swap_out({req});
    return moves ? int64_t(moves->size()) * bm_.block_size() : -1;
  }
  int64_t swap_in(int req) override {
    auto moves = bm_.swap_in({req});
    return moves ? int64_t(moves->size()) * bm_.block_size() : -1;
  }

 private:
  BlockManager bm_;
};

class ContiguousAllocator : public KvAllocator {
 public:
  ContiguousAllocator(KvPolicy p, int64_t capacity, int max_seq_len)
      : policy_(p), capacity_(capacity), max_seq_len_(max_seq_len), ranges_(capacity) {}
  bool admit(int req, int prompt_len, int output_len) override {
    const int64_t size = reservation(prompt_len, output_len);
    const int64_t off = ranges_.allocate(size);
    if (off < 0) return false;
    live_[req] = {off, size};
    return true;
  }
  bool grow(int req, int new_len) override {
    LLMI_REQUIRE(new_len <= live_.at(req).second, "request " << req << " outgrew its reservation");
    return true;
  }
  void release(int req) override {
    auto it = live_.find(req);
    LLMI_REQUIRE(it != live_.end(), "release of unknown request " << req);
    ranges_.free(it->second.first, it->second.second);
    live_.erase(it);
  }
  int64_t reserved_slots() const override { return capacity_ - ranges_.free_total(); }
  int64_t capacity_slots() const override { return capacity_; }

 private:
  int64_t reservation(int prompt_len, int output_len) const {
    switch (policy_) {
      case KvPolicy::OrcaMax: return max_seq_len_;
      case KvPolicy::OrcaPow2: {
        int64_t p2 = 1;
        while (p2 < output_len) p2 *= 2;
        return std::min<int64_t>(prompt_len + p2, max_seq_len_);
      }
      default: return prompt_len + output_len;
    }
  }
  KvPolicy policy_;
  int64_t capacity_;
  int max_seq_len_;
  FirstFitRanges ranges_;
  std::unordered_map<int, std::pair<int64_t, int64_t>> live_;
};

}  // namespace

std::unique_ptr<KvAllocator> make_allocator(KvPolicy p, int64_t capacity_tokens, int block_size,
                                            int max_seq_len, int64_t cpu_swap_tokens) {
  if (p == KvPolicy::Paged) return std::make_unique<PagedAllocator>(capacity_tokens, block_size, cpu_swap_tokens);
  return std::make_unique<ContiguousAllocator>(p, capacity_tokens, max_seq_len);
}

}  // namespace paged
