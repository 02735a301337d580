// Batch validation and masks shared by the CPU and CUDA runtimes.
#include "llmi/llama/runtime.h"

#include <set>

#include "llmi/check.h"

namespace llmi::llama {

Mask Mask::causal(int n) {
  Mask m(n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j <= i; ++j) m.set(i, j);
  return m;
}

Mask Mask::tree(const std::vector<int>& parent) {
  const int n = int(parent.size());
  Mask m(n);
  for (int i = 0; i < n; ++i) {
    LLMI_REQUIRE(parent[size_t(i)] < i, "tree parent of node " << i << " is " << parent[size_t(i)]
                                                               << ": parents must come first");
    for (int a = i; a >= 0; a = parent[size_t(a)]) m.set(i, a);
  }
  return m;
}

std::vector<int> selected_rows(const SeqChunk& c) {
  const int n = int(c.tokens.size());
  switch (c.rows) {
    case Rows::None: return {};
    case Rows::Last: return {n - 1};
    case Rows::All: {
      std::vector<int> r(static_cast<size_t>(n));
      for (int i = 0; i < n; ++i) r[size_t(i)] = i;
      return r;
    }
    case Rows::List: return c.row_list;
  }
  return {};
}

std::vector<SeqChunk> validate_batch(const std::vector<SeqChunk>& batch, const Config& cfg,
                                     int max_seqs, int max_context,
                                     const std::vector<int>& lengths) {
  LLMI_REQUIRE(!batch.empty(), "step: empty batch");
  std::set<int> seen;
  std::vector<SeqChunk> out = batch;
  for (auto& c : out) {
    LLMI_REQUIRE(c.seq_id >= 0 && c.seq_id < max_seqs,
                 "step: seq_id " << c.seq_id << " outside [0, " << max_seqs << ")");
    LLMI_REQUIRE(seen.insert(c.seq_id).second,
                 "step: sequence " << c.seq_id << " appears twice in one batch");
    const int n = int(c.tokens.size());
    LLMI_REQUIRE(n > 0, "step: sequence " << c.seq_id << " has no new tokens");
    const int len = lengths[size_t(c.seq_id)];
    LLMI_REQUIRE(len + n <= max_context,
                 "step: sequence " << c.seq_id << " would hold " << len + n
                                   << " tokens, longer than the context (" << max_context << ")");
    for (int t : c.tokens)
      LLMI_REQUIRE(t >= 0 && t < cfg.vocab_size,
                   "step: token id " << t << " outside the vocabulary (" << cfg.vocab_size << ")");
    if (c.positions.empty()) {
      c.positions.resize(static_cast<size_t>(n));
      for (int i = 0; i < n; ++i) c.positions[size_t(i)] = len + i;
    }
    LLMI_REQUIRE(int(c.positions.size()) == n, "step: sequence " << c.seq_id << " has " << n
                                                   << " tokens but " << c.positions.size()
                                                   << " positions");
    for (int p : c.positions)
      LLMI_REQUIRE(p >= 0 && p < cfg.max_positions,
                   "step: position " << p << " outside [0, " << cfg.max_positions << ")");
    if (c.mask)
      LLMI_REQUIRE(c.mask->n == n && c.mask->bits.size() == size_t(n) * size_t(n),
                   "step: mask is " << c.mask->n << "x" << c.mask->n << " for " << n << " tokens");
    if (c.rows == Rows::List) {
      LLMI_REQUIRE(!c.row_list.empty(), "step: Rows::List with an empty row list");
      for (int r : c.row_list)
        LLMI_REQUIRE(r >= 0 && r < n, "step: row " << r << " outside the chunk's " << n << " tokens");
    }
  }
  return out;
}

void validate_keep(int seq_id, int length, int first_new_row, const std::vector<int>& rows) {
  LLMI_REQUIRE(first_new_row >= 0 && first_new_row <= length,
               "keep: first_new_row " << first_new_row << " outside sequence " << seq_id
                                      << " of length " << length);
  for (size_t k = 0; k < rows.size(); ++k) {
    LLMI_REQUIRE(rows[k] >= 0 && first_new_row + rows[k] < length,
                 "keep: row " << rows[k] << " outside sequence " << seq_id);
    LLMI_REQUIRE(k == 0 || rows[k] > rows[k - 1], "keep: rows must be strictly increasing");
  }
}

}  // namespace llmi::llama
