// One forward step over a batch of sequences: the interface both backends implement.
//
// Every paper in the repo is a way of filling this call (see shared/DESIGN-NOTES.md):
//   plain decode  one SeqChunk per sequence, 1 token, rows = Last
//   SARATHI       one C-token prefill chunk + B single-token decodes, in one call
//   Medusa        1 + tree tokens, a tree mask, positions = prefix + depth, want_hidden; keep()
//   lookahead     current token + window + n-grams under the lookahead mask; truncate()/keep()
// The linear layers run once over the concatenation of all new tokens (SARATHI's fused GEMM);
// attention runs per sequence over its cached prefix plus its new tokens under its mask. The new
// rows' K/V are appended to the sequence's cache; truncate()/keep() undo or compact them.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "llmi/llama/config.h"

namespace llmi::llama {

// Visibility among a chunk's n new tokens: visible(i, j) = query i may attend to new token j.
// Every new token always sees the whole cached prefix. A token should see itself.
struct Mask {
  int n = 0;
  std::vector<uint8_t> bits;  // [n, n] row-major, 1 = visible
  explicit Mask(int n_ = 0) : n(n_), bits(size_t(n_) * size_t(n_), 0) {}
  bool visible(int i, int j) const { return bits[size_t(i) * size_t(n) + size_t(j)] != 0; }
  void set(int i, int j, bool v = true) { bits[size_t(i) * size_t(n) + size_t(j)] = v; }
  static Mask causal(int n);
  // A token tree given by parent indices (-1 = child of the cached prefix): i sees its ancestors.
  static Mask tree(const std::vector<int>& parent);
};

enum class Rows { None, Last, All, List };

struct SeqChunk {
  int seq_id = 0;              // which KV cache (0 .. max_seqs-1)
  std::vector<int> tokens;     // the new tokens
  std::vector<int> positions;  // their RoPE positions; empty = cache length + 0, 1, 2, ...
  const Mask* mask = nullptr;  // n x n visibility among the new tokens; nullptr = causal
  Rows rows = Rows::Last;      // which new rows get logits (and hidden states)
  std::vector<int> row_list;   // with Rows::List: indices into tokens
  bool want_hidden = false;    // final-norm hidden states of the selected rows (Medusa heads)
};

struct StepOutput {
  int vocab = 0, hidden = 0;
  std::vector<int> row_begin;     // per chunk: first output row; row_begin[i+1]-row_begin[i] rows
  std::vector<float> logits;      // [rows, vocab] fp32
  std::vector<float> hidden_states;  // [rows, hidden] fp32, rows of chunks with want_hidden
                                     // (other rows left 0)
  int num_rows(int chunk) const { return row_begin[size_t(chunk) + 1] - row_begin[size_t(chunk)]; }
  const float* row_logits(int chunk, int k) const {
    return logits.data() + size_t(row_begin[size_t(chunk)] + k) * size_t(vocab);
  }
  const float* row_hidden(int chunk, int k) const {
    return hidden_states.data() + size_t(row_begin[size_t(chunk)] + k) * size_t(hidden);
  }
};

struct RuntimeOptions {
  int max_seqs = 8;     // KV caches, seq_id in [0, max_seqs)
  int max_context = 0;  // tokens per sequence; 0 = the model's max_positions
};

class Runtime {
 public:
  virtual ~Runtime() = default;
  virtual const Config& config() const = 0;
  virtual std::string backend() const = 0;  // "cpu-fp32" or "cuda-bf16"
  virtual int max_seqs() const = 0;
  virtual int max_context() const = 0;

  // Runs one step. Validates everything first (seq ids, token ids, positions, mask size, row
  // list, context overflow, a sequence appearing twice) and throws llmi::Error before any cache
  // is touched.
  virtual StepOutput step(const std::vector<SeqChunk>& batch) = 0;

  virtual int length(int seq_id) const = 0;             // cached rows
  virtual void truncate(int seq_id, int length) = 0;    // drop rows >= length
  // Keeps rows first_new_row + rows[k] (rows strictly increasing) at first_new_row + k and drops
  // every other row from first_new_row on: the accepted path of a tree, in order.
  virtual void keep(int seq_id, int first_new_row, const std::vector<int>& rows) = 0;
  void reset(int seq_id) { truncate(seq_id, 0); }
};

// Checks a batch against a runtime's limits and current cache lengths; fills empty positions.
// Shared by both backends so they reject the same inputs with the same messages.
std::vector<SeqChunk> validate_batch(const std::vector<SeqChunk>& batch, const Config& c,
                                     int max_seqs, int max_context,
                                     const std::vector<int>& lengths);
// Output rows a chunk asks for, as indices into its tokens.
std::vector<int> selected_rows(const SeqChunk& chunk);
void validate_keep(int seq_id, int length, int first_new_row, const std::vector<int>& rows);

}  // namespace llmi::llama
