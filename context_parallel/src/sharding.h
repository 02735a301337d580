// Load-balanced causal sharding of a batch across N context-parallel ranks (paper §3.5.1, §3.6).
//
// Full prefill: each sequence's new tokens are cut into 2N chunks C_0..C_{2N-1}; rank r holds
// C_r and C_{2N-1-r}, so every rank gets one early (cheap under the causal mask) and one late
// (expensive) chunk: equal causal FLOPs and equal KV memory per rank.
// Partial prefill: only the T new tokens are sharded that way; the P cached tokens' KV stays on
// whatever rank already holds it (Fig. 2), described by a KvPlacement.
// Fused variable-length batches: every sequence is sharded the same way and padded (Fig. 1).
// Decode: the token of sequence b at decode step t lives on rank (b + t) mod N: round robin
// with an offset that shifts by one each iteration, so decode KV spreads evenly (§3.6).
//
// Padding keeps messages equal-sized (§3.5.2): every rank's Q buffer has the same number of
// slots (2*ceil(T_i/2N) per sequence in prefill, ceil(B/N) in decode), and every rank's KV
// buffer gives sequence i the same L_i = max over ranks of the KV rows it holds (Alg. 2 line 2).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "token.h"

namespace llmi::cp {

// One sequence of a batch: P cached tokens (KV already on the ranks) and T new tokens.
struct SeqSpec {
  int cached = 0;  // P
  int fresh = 0;   // T
};

// Offsets in [0, T) of the new tokens rank r holds, in buffer order (chunk r, then chunk
// 2N-1-r), each chunk padded to ceil(T/2N) slots; -1 marks a padding slot.
std::vector<int> balanced_offsets(int T, int ranks, int r);

// Which rank holds the KV of each position of each sequence.
class KvPlacement {
 public:
  KvPlacement(int ranks, int num_seqs);
  // As left by a full prefill of sequences of these lengths with the load-balanced sharding.
  static KvPlacement load_balanced(const std::vector<int>& lengths, int ranks);

  int ranks() const { return ranks_; }
  int num_seqs() const { return int(owner_.size()); }
  int length(int seq) const;            // positions placed so far
  int owner(int seq, int pos) const;
  void append(int seq, int rank);       // position length(seq) of seq goes to rank
  std::vector<int> positions_on(int seq, int rank) const;  // ascending

 private:
  int ranks_;
  std::vector<std::vector<int>> owner_;  // [seq][pos] -> rank
};

// What one rank holds for one attention call: its Q rows and its KV rows (padding included).
struct RankShard {
  std::vector<Token> q;
  std::vector<Token> kv;
};

// The sharding of one attention call, identical on every rank.
struct CpPlan {
  int ranks = 0;
  std::vector<SeqSpec> seqs;     // P_i and T_i of every sequence of the batch
  std::vector<RankShard> shard;  // [rank]; all q (and all kv) lists have equal length

  int q_len() const { return int(shard.at(0).q.size()); }
  int kv_len() const { return int(shard.at(0).kv.size()); }
  // Hash of everything above: ranks compare it before a ring so a mismatch is an error,
  // not a deadlock or silent garbage.
  uint64_t fingerprint() const;
};

// Prefill of new tokens after cached ones (P = 0 everywhere: full prefill). The new tokens'
// KV stays on the rank that computed it, so the plan's kv lists are cache + new tokens.
// `cache` must hold exactly seqs[i].cached positions of every sequence.
CpPlan plan_prefill(const std::vector<SeqSpec>& seqs, const KvPlacement& cache);

// The rank that computes (and stores the KV of) sequence b's token at decode step `step`.
inline int decode_owner(int seq, int step, int ranks) { return (seq + step) % ranks; }

// One decode step: appends every sequence's new token to `cache` on its decode_owner, then
// plans the attention of those tokens (one query each) against the whole cache.
CpPlan plan_decode(KvPlacement& cache, int step);

// Rank placement after a prefill planned with plan_prefill (cache + the new tokens).
KvPlacement placement_after_prefill(const CpPlan& plan, const KvPlacement& cache);

// ---- moving rows between whole-batch arrays and rank buffers (harness, tests, bench) -------

// Row indices into whole-batch arrays: Q holds the new tokens of all sequences back to back
// ([sum T_i, Hq, D]); K and V hold all positions of all sequences ([sum (P_i+T_i), Hkv, D]).
class BatchRows {
 public:
  explicit BatchRows(const std::vector<SeqSpec>& seqs);
  size_t q_rows() const { return q_base_.back(); }
  size_t kv_rows() const { return kv_base_.back(); }
  size_t q_row(Token t) const;   // t must be one of the new tokens
  size_t kv_row(Token t) const;

 private:
  std::vector<SeqSpec> seqs_;
  std::vector<size_t> q_base_, kv_base_;  // prefix sums, one past the end included
};

using RowOf = std::function<size_t(Token)>;

// Rank buffer [tokens.size(), row] from a whole-batch array; padding rows are zero.
template <typename T>
std::vector<T> gather_rows(const std::vector<Token>& tokens, const RowOf& row_of, const T* global,
                           size_t row) {
  std::vector<T> out(tokens.size() * row, T(0));
  for (size_t i = 0; i < tokens.size(); ++i)
    if (!tokens[i].is_pad()) {
      const T* src = global + row_of(tokens[i]) * row;
      std::copy(src, src + row, out.begin() + i * row);
    }
  return out;
}

// Writes a rank buffer's non-padding rows back to their whole-batch rows (unsharding).
template <typename T>
void scatter_rows(const std::vector<Token>& tokens, const RowOf& row_of, const T* local, T* global,
                  size_t row) {
  for (size_t i = 0; i < tokens.size(); ++i)
    if (!tokens[i].is_pad()) std::copy(local + i * row, local + (i + 1) * row, global + row_of(tokens[i]) * row);
}

}  // namespace llmi::cp
