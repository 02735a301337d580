#include "sarathi/kv_manager.h"

#include <algorithm>

#include "llmi/check.h"

namespace sarathi {

KvManager::KvManager(int num_blocks, int block_size)
    : num_blocks_(num_blocks), block_size_(block_size), free_(num_blocks) {
  LLMI_REQUIRE(num_blocks > 0 && block_size > 0,
               "KV manager needs positive num_blocks and block_size, got " << num_blocks << " and "
                                                                           << block_size);
}

int KvManager::held(int req) const {
  auto it = held_.find(req);
  return it == held_.end() ? 0 : it->second;
}

int KvManager::shortfall(int req, int tokens) const {
  return std::max(0, blocks_for(tokens) - held(req));
}

void KvManager::reserve(int req, int tokens) {
  const int need = shortfall(req, tokens);
  LLMI_REQUIRE(need <= free_, "out of KV blocks: request " << req << " needs " << need
                                                           << " more, " << free_ << " free");
  if (need == 0) return;
  held_[req] += need;
  free_ -= need;
}

void KvManager::release(int req) {
  auto it = held_.find(req);
  if (it == held_.end()) return;
  free_ += it->second;
  held_.erase(it);
}

}  // namespace sarathi
