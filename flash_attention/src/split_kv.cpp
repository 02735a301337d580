// choose_num_splits: see split_kv.h.
#include "flash_attention/split_kv.h"

#include <algorithm>

#include "llmi/check.h"

namespace flash {

int choose_num_splits(int tiles, int slots, int max_splits) {
  LLMI_REQUIRE(tiles > 0 && slots > 0 && max_splits > 0,
               "choose_num_splits needs positive sizes, got tiles="
                   << tiles << " slots=" << slots << " max_splits=" << max_splits);
  return std::clamp(slots / tiles, 1, max_splits);
}

}  // namespace flash
