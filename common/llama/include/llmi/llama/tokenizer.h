// Hugging Face tokenizer.json byte-level BPE (GPT-2 / Llama-3 / Qwen style): encode, decode,
// special tokens.
//
// Pipeline (as in the `tokenizers` library): split out special (added) tokens, pre-tokenize the
// rest with the GPT-2 regex (or the Llama-3 / Qwen2 Split regex), map each byte to its printable stand-in (bytes_to_unicode), apply
// BPE merges by rank inside each piece, look the pieces up in the vocabulary. Decoding maps the
// stand-ins back to bytes, so decode(encode(s)) == s for every byte string.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace llmi::llama {

class Tokenizer {
 public:
  // Reads tokenizer.json; throws llmi::Error for a missing file or an unsupported model /
  // pre-tokenizer (only byte-level BPE is implemented).
  static Tokenizer from_file(const std::string& path);

  std::vector<int> encode(const std::string& text) const;  // no BOS added
  std::string decode(const std::vector<int>& ids) const;   // raw bytes (may split a UTF-8 char)
  std::string token_text(int id) const { return decode({id}); }
  int vocab_size() const { return int(id_to_token_.size()); }
  int token_id(const std::string& token) const;  // -1 when absent (token in stand-in form)
  bool is_special(int id) const { return special_ids_.count(id) != 0; }

 private:
  void bpe(const std::string& piece_bytes, std::vector<int>& out) const;

  std::unordered_map<std::string, int> token_to_id_;   // stand-in strings (UTF-8)
  std::vector<std::string> id_to_token_;               // stand-in strings
  std::unordered_map<std::string, int> merge_rank_;    // "left right" (stand-ins) -> rank
  std::map<std::string, int> special_;                 // content -> id
  std::unordered_map<int, bool> special_ids_;
  enum class PreTokenizer { Gpt2, Llama3, Qwen2 } pretok_ = PreTokenizer::Gpt2;
  bool ignore_merges_ = false;  // Llama-3: a whole piece found in the vocab is one token
  std::string byte_to_unit_[256];                      // byte -> stand-in (UTF-8)
  std::unordered_map<uint32_t, uint8_t> unit_to_byte_; // stand-in code point -> byte
};

// GPT-2 pre-tokenizer pattern, hand-coded over code points:
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// Returns byte ranges [begin, end) of `text`. Letter/number classes are exact for ASCII and
// Latin-1 and approximate beyond (see tokenizer.cpp).
std::vector<std::pair<size_t, size_t>> gpt2_pretokenize(const std::string& text);

// Llama-3 (max_digits 3) and Qwen2 (max_digits 1) Split pattern, hand-coded likewise:
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//   \s*[\r\n]+|\s+(?!\S)|\s+
std::vector<std::pair<size_t, size_t>> llama3_pretokenize(const std::string& text, int max_digits);

}  // namespace llmi::llama
