// Byte-level BPE tokenizer (see tokenizer.h).
#include "llmi/llama/tokenizer.h"

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "llmi/check.h"

namespace llmi::llama {

namespace {

void append_utf8(std::string& s, uint32_t cp) {
  if (cp < 0x80) {
    s.push_back(char(cp));
  } else if (cp < 0x800) {
    s.push_back(char(0xC0 | (cp >> 6)));
    s.push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    s.push_back(char(0xE0 | (cp >> 12)));
    s.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    s.push_back(char(0x80 | (cp & 0x3F)));
  } else {
    s.push_back(char(0xF0 | (cp >> 18)));
    s.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    s.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    s.push_back(char(0x80 | (cp & 0x3F)));
  }
}

// Decodes one UTF-8 code point at s[i]; an invalid byte decodes as itself (length 1) so that
// arbitrary bytes still pre-tokenize (they become "other" characters).
uint32_t next_cp(const std::string& s, size_t i, size_t& len) {
  const auto b = [&](size_t k) { return uint8_t(s[k]); };
  const uint8_t c = b(i);
  auto cont = [&](size_t k) { return k < s.size() && (b(k) & 0xC0) == 0x80; };
  if (c < 0x80) return len = 1, c;
  if ((c & 0xE0) == 0xC0 && c >= 0xC2 && cont(i + 1))
    return len = 2, (uint32_t(c & 0x1F) << 6) | (b(i + 1) & 0x3F);
  if ((c & 0xF0) == 0xE0 && cont(i + 1) && cont(i + 2))
    return len = 3, (uint32_t(c & 0x0F) << 12) | (uint32_t(b(i + 1) & 0x3F) << 6) | (b(i + 2) & 0x3F);
  if ((c & 0xF8) == 0xF0 && c <= 0xF4 && cont(i + 1) && cont(i + 2) && cont(i + 3))
    return len = 4, (uint32_t(c & 0x07) << 18) | (uint32_t(b(i + 1) & 0x3F) << 12) |
                        (uint32_t(b(i + 2) & 0x3F) << 6) | (b(i + 3) & 0x3F);
  return len = 1, 0xFFFFFFFFu;  // invalid: neither letter, number nor space
}

// Unicode White_Space.
bool is_space(uint32_t c) {
  return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// \p{N}: exact for ASCII and Latin-1; beyond that the common decimal-digit blocks.
bool is_number(uint32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  if (c == 0xB2 || c == 0xB3 || c == 0xB9 || (c >= 0xBC && c <= 0xBE)) return true;
  return (c >= 0x0660 && c <= 0x0669) || (c >= 0x06F0 && c <= 0x06F9) ||
         (c >= 0x0966 && c <= 0x096F) || (c >= 0x2070 && c <= 0x2079) ||
         (c >= 0x2080 && c <= 0x2089) || (c >= 0x2150 && c <= 0x2189) ||
         (c >= 0x2460 && c <= 0x249B) || (c >= 0xFF10 && c <= 0xFF19);
}

// \p{L}: exact for ASCII and Latin-1; beyond, every code point outside the punctuation,
// symbol, space and number blocks counts as a letter (CJK, Cyrillic, Greek, ... are letters).
bool is_letter(uint32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (c == 0xFFFFFFFFu || is_space(c) || is_number(c)) return false;
  if (c < 0x100) return c == 0xAA || c == 0xB5 || c == 0xBA || (c >= 0xC0 && c != 0xD7 && c != 0xF7);
  const bool symbol_block =
      (c >= 0x2000 && c <= 0x2BFF) ||   // punctuation, super/subscripts, currency, arrows, math
      (c >= 0x3000 && c <= 0x303F) ||   // CJK punctuation
      (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF20) ||
      (c >= 0xFF3B && c <= 0xFF40) || (c >= 0xFF5B && c <= 0xFF65) ||
      (c >= 0x1F000 && c <= 0x1FAFF) || // emoji and pictographs
      (c >= 0xE000 && c <= 0xF8FF) || (c >= 0xFE00 && c <= 0xFE0F);
  return !symbol_block;
}

// Code points of a UTF-8 string with their byte offsets (offsets has one extra entry: the end).
void split_code_points(const std::string& s, std::vector<uint32_t>& cp, std::vector<size_t>& off) {
  for (size_t i = 0; i < s.size();) {
    size_t len = 1;
    cp.push_back(next_cp(s, i, len));
    off.push_back(i);
    i += len;
  }
  off.push_back(s.size());
}

uint32_t ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

}  // namespace

std::vector<std::pair<size_t, size_t>> gpt2_pretokenize(const std::string& s) {
  std::vector<uint32_t> cp;
  std::vector<size_t> off;
  split_code_points(s, cp, off);
  const size_t n = cp.size();
  auto other = [&](size_t k) { return !is_space(cp[k]) && !is_letter(cp[k]) && !is_number(cp[k]); };
  std::vector<std::pair<size_t, size_t>> out;
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    const uint32_t c = cp[i];
    auto run = [&](size_t from, auto pred) {
      size_t k = from;
      while (k < n && pred(k)) ++k;
      return k;
    };
    if (c == '\'' && i + 1 < n &&
        (cp[i + 1] == 's' || cp[i + 1] == 't' || cp[i + 1] == 'm' || cp[i + 1] == 'd')) {
      j = i + 2;
    } else if (c == '\'' && i + 2 < n &&
               ((cp[i + 1] == 'r' && cp[i + 2] == 'e') || (cp[i + 1] == 'v' && cp[i + 2] == 'e') ||
                (cp[i + 1] == 'l' && cp[i + 2] == 'l'))) {
      j = i + 3;
    } else {
      const size_t a = (c == ' ' && i + 1 < n) ? i + 1 : i;  // the optional leading space
      auto letter = [&](size_t k) { return is_letter(cp[k]); };
      auto number = [&](size_t k) { return is_number(cp[k]); };
      if (is_letter(cp[a])) {
        j = run(a, letter);
      } else if (is_number(cp[a])) {
        j = run(a, number);
      } else if (other(a)) {
        j = run(a, other);
      } else {  // whitespace: \s+(?!\S) leaves the last space for the next word, else \s+
        const size_t e = run(i, [&](size_t k) { return is_space(cp[k]); });
        j = (e < n && e - i > 1) ? e - 1 : e;
      }
    }
    out.emplace_back(off[i], off[j]);
    i = j;
  }
  return out;
}

std::vector<std::pair<size_t, size_t>> llama3_pretokenize(const std::string& s, int max_digits) {
  std::vector<uint32_t> cp;
  std::vector<size_t> off;
  split_code_points(s, cp, off);
  const size_t n = cp.size();
  auto newline = [&](size_t k) { return cp[k] == '\r' || cp[k] == '\n'; };
  auto other = [&](size_t k) { return !is_space(cp[k]) && !is_letter(cp[k]) && !is_number(cp[k]); };
  auto run = [&](size_t k, auto pred) {
    while (k < n && pred(k)) ++k;
    return k;
  };
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    const uint32_t c1 = i + 1 < n ? ascii_lower(cp[i + 1]) : 0, c2 = i + 2 < n ? ascii_lower(cp[i + 2]) : 0;
    if (cp[i] == '\'' && (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')) {
      j = i + 2;  // (?i:'s|'t|'m|'d)
    } else if (cp[i] == '\'' && ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))) {
      j = i + 3;  // (?i:'re|'ve|'ll)
    } else if (is_letter(cp[i]) || (!newline(i) && !is_number(cp[i]) && i + 1 < n && is_letter(cp[i + 1]))) {
      j = run(i + 1, [&](size_t k) { return is_letter(cp[k]); });  // [^\r\n\p{L}\p{N}]?\p{L}+
    } else if (is_number(cp[i])) {
      j = i;  // \p{N}{1,max_digits}
      while (j < n && j - i < size_t(max_digits) && is_number(cp[j])) ++j;
    } else if (other(i) || (cp[i] == ' ' && i + 1 < n && other(i + 1))) {
      j = run(cp[i] == ' ' ? i + 1 : i, other);  //  ?[^\s\p{L}\p{N}]+[\r\n]*
      j = run(j, newline);
    } else {  // whitespace
      const size_t e = run(i, [&](size_t k) { return is_space(cp[k]); });
      size_t last_nl = e;
      for (size_t k = i; k < e; ++k)
        if (newline(k)) last_nl = k;
      if (last_nl < e) {
        j = last_nl + 1;  // \s*[\r\n]+
      } else {
        j = (e < n && e - i > 1) ? e - 1 : e;  // \s+(?!\S) | \s+
      }
    }
    out.emplace_back(off[i], off[j]);
    i = j;
  }
  return out;
}

namespace {

// The Split regexes of the Llama-3 and Qwen2 tokenizers (they differ only in digit grouping).
const char* const kLlama3Pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kQwen2Pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

}  // namespace

Tokenizer Tokenizer::from_file(const std::string& path) {
  std::ifstream in(path);
  LLMI_REQUIRE(in, "cannot open tokenizer " << path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not valid JSON: " + e.what());
  }
  LLMI_REQUIRE(j.contains("model") && j["model"].is_object(), path << ": no 'model' object");
  const auto& m = j["model"];
  LLMI_REQUIRE(m.value("type", std::string()) == "BPE",
               path << ": unsupported tokenizer model '" << m.value("type", std::string("?"))
                    << "' (only BPE)");
  // Byte-level pre-tokenizer: alone with the GPT-2 regex, or after a Split with the Llama-3 /
  // Qwen2 regex. Anything else would split text differently, so it is refused.
  const auto pre = j.value("pre_tokenizer", nlohmann::json());
  const std::string pre_text = pre.dump().substr(0, 300);
  auto byte_level = [](const nlohmann::json& p, bool regex) {
    return p.is_object() && p.value("type", std::string()) == "ByteLevel" &&
           p.value("use_regex", true) == regex && !p.value("add_prefix_space", false);
  };
  Tokenizer t;
  if (byte_level(pre, true)) {
    t.pretok_ = PreTokenizer::Gpt2;
  } else if (pre.is_object() && pre.value("type", std::string()) == "Sequence" &&
             pre.contains("pretokenizers") && pre["pretokenizers"].size() == 2 &&
             byte_level(pre["pretokenizers"][1], false) &&
             pre["pretokenizers"][0].value("type", std::string()) == "Split") {
    const auto& split = pre["pretokenizers"][0];
    const std::string pattern = split.contains("pattern") && split["pattern"].contains("Regex")
                                    ? split["pattern"]["Regex"].get<std::string>()
                                    : std::string();
    if (pattern == kLlama3Pattern) t.pretok_ = PreTokenizer::Llama3;
    else if (pattern == kQwen2Pattern) t.pretok_ = PreTokenizer::Qwen2;
    else throw Error(path + ": unsupported pre_tokenizer Split regex: " + pattern);
  } else {
    throw Error(path + ": unsupported pre_tokenizer (implemented: ByteLevel with the GPT-2 regex, "
                       "or Split with the Llama-3/Qwen2 regex + ByteLevel): " + pre_text);
  }
  // Qwen2 declares an NFC normalizer: text that is already NFC (ASCII, precomposed) is unchanged
  // by it, and that is all this tokenizer accepts; any other normalizer is refused.
  const auto norm = j.value("normalizer", nlohmann::json());
  LLMI_REQUIRE(norm.is_null() || norm.value("type", std::string()) == "NFC",
               path << ": unsupported normalizer " << norm.dump().substr(0, 200));
  t.ignore_merges_ = m.value("ignore_merges", false);
  // GPT-2 bytes_to_unicode: printable bytes stand for themselves, the rest map to 256 + k.
  int extra = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    const uint32_t cp = printable ? uint32_t(b) : uint32_t(256 + extra++);
    append_utf8(t.byte_to_unit_[b], cp);
    t.unit_to_byte_[cp] = uint8_t(b);
  }
  LLMI_REQUIRE(m.contains("vocab") && m["vocab"].is_object(), path << ": no model.vocab");
  for (auto it = m["vocab"].begin(); it != m["vocab"].end(); ++it) {
    const int id = it.value().get<int>();
    LLMI_REQUIRE(id >= 0 && id < (1 << 24), path << ": bad id " << id);
    if (size_t(id) >= t.id_to_token_.size()) t.id_to_token_.resize(size_t(id) + 1);
    t.id_to_token_[size_t(id)] = it.key();
    t.token_to_id_[it.key()] = id;
  }
  int rank = 0;
  for (const auto& mg : m.value("merges", nlohmann::json::array())) {
    // Newer files store [left, right]; older ones "left right".
    const std::string key = mg.is_array() ? mg[0].get<std::string>() + " " + mg[1].get<std::string>()
                                          : mg.get<std::string>();
    t.merge_rank_.emplace(key, rank++);
  }
  for (const auto& a : j.value("added_tokens", nlohmann::json::array())) {
    const int id = a["id"].get<int>();
    const std::string content = a["content"].get<std::string>();
    if (size_t(id) >= t.id_to_token_.size()) t.id_to_token_.resize(size_t(id) + 1);
    t.id_to_token_[size_t(id)] = content;
    t.token_to_id_[content] = id;
    t.special_[content] = id;
    t.special_ids_[id] = true;
  }
  return t;
}

int Tokenizer::token_id(const std::string& token) const {
  auto it = token_to_id_.find(token);
  return it == token_to_id_.end() ? -1 : it->second;
}

// BPE inside one pre-token: start from its bytes' stand-ins, merge the lowest-ranked adjacent
// pair until no pair is in the merge table.
void Tokenizer::bpe(const std::string& bytes, std::vector<int>& out) const {
  std::vector<std::string> parts;
  std::string whole;
  for (unsigned char b : bytes) {
    parts.push_back(byte_to_unit_[b]);
    whole += byte_to_unit_[b];
  }
  if (ignore_merges_) {
    auto it = token_to_id_.find(whole);
    if (it != token_to_id_.end()) return out.push_back(it->second);
  }
  while (parts.size() > 1) {
    int best = std::numeric_limits<int>::max();
    size_t at = 0;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      auto it = merge_rank_.find(parts[i] + " " + parts[i + 1]);
      if (it != merge_rank_.end() && it->second < best) best = it->second, at = i;
    }
    if (best == std::numeric_limits<int>::max()) break;
    parts[at] += parts[at + 1];
    parts.erase(parts.begin() + long(at) + 1);
  }
  for (const auto& p : parts) {
    auto it = token_to_id_.find(p);
    LLMI_REQUIRE(it != token_to_id_.end(), "tokenizer: piece '" << p << "' not in the vocabulary");
    out.push_back(it->second);
  }
}

std::vector<int> Tokenizer::encode(const std::string& text) const {
  std::vector<int> out;
  size_t i = 0;
  while (i < text.size()) {
    // The next special token (leftmost, then longest) splits the text.
    size_t best_pos = std::string::npos, best_len = 0;
    int best_id = -1;
    for (const auto& sp : special_) {
      const size_t p = text.find(sp.first, i);
      if (p != std::string::npos && (p < best_pos || (p == best_pos && sp.first.size() > best_len)))
        best_pos = p, best_len = sp.first.size(), best_id = sp.second;
    }
    const size_t end = best_pos == std::string::npos ? text.size() : best_pos;
    const std::string plain = text.substr(i, end - i);
    const auto pieces = pretok_ == PreTokenizer::Gpt2 ? gpt2_pretokenize(plain)
                        : llama3_pretokenize(plain, pretok_ == PreTokenizer::Llama3 ? 3 : 1);
    for (const auto& r : pieces) bpe(plain.substr(r.first, r.second - r.first), out);
    if (best_id < 0) break;
    out.push_back(best_id);
    i = best_pos + best_len;
  }
  return out;
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  std::string out;
  for (int id : ids) {
    LLMI_REQUIRE(id >= 0 && size_t(id) < id_to_token_.size(),
                 "tokenizer: id " << id << " outside the vocabulary (" << id_to_token_.size() << ")");
    const std::string& tok = id_to_token_[size_t(id)];
    if (special_ids_.count(id)) {
      out += tok;
      continue;
    }
    for (size_t i = 0; i < tok.size();) {
      size_t len = 1;
      const uint32_t cp = next_cp(tok, i, len);
      auto it = unit_to_byte_.find(cp);
      LLMI_REQUIRE(it != unit_to_byte_.end(), "tokenizer: token " << id << " is not byte-level");
      out.push_back(char(it->second));
      i += len;
    }
  }
  return out;
}

}  // namespace llmi::llama
