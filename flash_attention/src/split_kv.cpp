// choose_num_splits: see split_kv.h.
#include "flash_attention/split_kv.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "llmi/check.h"

namespace flash {

int choose_num_splits(int tiles, int slots, int key_blocks, int max_splits) {
  LLMI_REQUIRE(tiles > 0 && slots > 0 && key_blocks > 0 && max_splits > 0,
               "choose_num_splits needs positive sizes, got tiles="
                   << tiles << " slots=" << slots << " key_blocks=" << key_blocks);
  // Enough tiles to fill 80% of the machine already: splitting only adds merge work.
  if (tiles >= 0.8 * slots) return 1;
  max_splits = std::min({max_splits, key_blocks, slots});
  std::vector<double> eff(max_splits + 1, 0.0);
  double best = 0;
  for (int n = 1; n <= max_splits; ++n) {
    const double waves = double(tiles) * n / slots;
    eff[n] = waves / std::ceil(waves);
    best = std::max(best, eff[n]);
  }
  for (int n = 1; n <= max_splits; ++n)
    if (eff[n] >= 0.85 * best) return n;
  return 1;
}

}  // namespace flash
