// Byte-level BPE tokenizer: the golden prompts and continuations round-trip through
// decode -> encode; edge cases (empty, unicode, raw bytes, special tokens, whitespace runs).
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "llmi/catch.h"
#include "llmi/llama/tokenizer.h"
#include "pycode.h"

using namespace llmi::llama;

namespace {
const Tokenizer& tok() {
  static const Tokenizer t = Tokenizer::from_file(test::pycode_dir() + "/tokenizer.json");
  return t;
}
}  // namespace

TEST_CASE("golden prompts: decode then encode gives the same ids", "[tokenizer]") {
  std::ifstream in(test::pycode_dir() + "/golden_greedy.json");
  REQUIRE(in);
  const auto j = nlohmann::json::parse(in);
  REQUIRE(tok().vocab_size() == 8192);
  int checked = 0;
  for (const auto& c : j["cases"]) {
    const auto prompt = c["prompt_ids"].get<std::vector<int>>();
    const std::string text = tok().decode(prompt);
    CHECK(tok().encode(text) == prompt);
    // The model's own continuation, appended: also canonical BPE (the text re-encodes the same).
    auto all = prompt;
    const auto greedy = c["greedy_ids"].get<std::vector<int>>();
    all.insert(all.end(), greedy.begin(), greedy.end());
    CHECK(tok().encode(tok().decode(all)) == all);
    ++checked;
  }
  CHECK(checked == 8);
}

TEST_CASE("special tokens encode to their id and decode to their text", "[tokenizer]") {
  CHECK(tok().is_special(0));
  CHECK(tok().decode({0}) == "<|endoftext|>");
  const auto ids = tok().encode("<|endoftext|>def f():<|endoftext|>");
  REQUIRE(ids.size() >= 3);
  CHECK(ids.front() == 0);
  CHECK(ids.back() == 0);
  CHECK(tok().decode(ids) == "<|endoftext|>def f():<|endoftext|>");
}

TEST_CASE("edge cases round-trip", "[tokenizer]") {
  CHECK(tok().encode("").empty());
  CHECK(tok().decode({}).empty());
  const std::vector<std::string> texts = {
      " ", "\n\n\n", "    return x  \n", "x = 1e-5 + 0x1F  # comment", "it's we'll they're",
      "naïve café — 日本語 😀 Ω≈ç√", "tab\tand\r\nCRLF", std::string("\x00\x01\xff\xfe bytes", 10),
      "a  b   c    d", "   leading and trailing   "};
  for (const auto& s : texts) {
    INFO("text: " << s);
    const auto ids = tok().encode(s);
    for (int id : ids) CHECK((id >= 0 && id < tok().vocab_size()));
    CHECK(tok().decode(ids) == s);
  }
}

TEST_CASE("GPT-2 pre-tokenizer splits like the reference regex", "[tokenizer]") {
  const std::string s = "def  foo(x):\n    return x's 42";
  std::vector<std::string> pieces;
  for (auto r : gpt2_pretokenize(s)) pieces.push_back(s.substr(r.first, r.second - r.first));
  const std::vector<std::string> expect = {"def", " ", " foo", "(", "x", "):", "\n   ", " return",
                                           " x", "'s", " 42"};
  CHECK(pieces == expect);
  // A trailing run of spaces stays whole (\s+(?!\S) at the end of the text).
  const std::string t = "a   ";
  auto r = gpt2_pretokenize(t);
  REQUIRE(r.size() == 2);
  CHECK(t.substr(r[1].first) == "   ");
}

TEST_CASE("tokenizer bad inputs", "[tokenizer][errors]") {
  LLMI_REQUIRE_THROWS_WITH(Tokenizer::from_file("/nonexistent/tokenizer.json"), "cannot open");
  LLMI_REQUIRE_THROWS_WITH(tok().decode({8192}), "outside the vocabulary");
  LLMI_REQUIRE_THROWS_WITH(tok().decode({-1}), "outside the vocabulary");
}

TEST_CASE("Llama-3 / Qwen2 pre-tokenizer splits like their regex", "[tokenizer]") {
  const std::string s = "Hello world's 12345 ok!!\n\n  x";
  auto split = [&](int digits) {
    std::vector<std::string> p;
    for (auto r : llama3_pretokenize(s, digits)) p.push_back(s.substr(r.first, r.second - r.first));
    return p;
  };
  CHECK(split(3) == std::vector<std::string>{"Hello", " world", "'s", " ", "123", "45", " ok",
                                             "!!\n\n", " ", " x"});
  CHECK(split(1) == std::vector<std::string>{"Hello", " world", "'s", " ", "1", "2", "3", "4", "5",
                                             " ok", "!!\n\n", " ", " x"});
  // A punctuation mark joins the following word; newlines group with preceding spaces.
  const std::string t = "a.b  \n\nc'RE";
  std::vector<std::string> p;
  for (auto r : llama3_pretokenize(t, 3)) p.push_back(t.substr(r.first, r.second - r.first));
  CHECK(p == std::vector<std::string>{"a", ".b", "  \n\n", "c", "'RE"});
}

TEST_CASE("tokenizer.json with a Llama-3 style Sequence pre-tokenizer loads; others are refused",
          "[tokenizer]") {
  std::ifstream in(test::pycode_dir() + "/tokenizer.json");
  auto j = nlohmann::json::parse(in);
  const std::string llama3 =
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"}, {"pattern", {{"Regex", llama3}}}, {"behavior", "Isolated"}, {"invert", false}},
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}};
  const std::string path = "/tmp/llmi_llama_tok_" + std::to_string(::getpid()) + ".json";
  std::ofstream(path) << j.dump();
  const Tokenizer t = Tokenizer::from_file(path);
  const std::string text = "def f(x):\n    return x * 12345  # 日本\n";
  CHECK(t.decode(t.encode(text)) == text);
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\w+";
  std::ofstream(path) << j.dump();
  LLMI_REQUIRE_THROWS_WITH(Tokenizer::from_file(path), "unsupported pre_tokenizer Split regex");
  j["pre_tokenizer"] = {{"type", "Metaspace"}};
  std::ofstream(path) << j.dump();
  LLMI_REQUIRE_THROWS_WITH(Tokenizer::from_file(path), "unsupported pre_tokenizer");
  j["model"]["type"] = "Unigram";
  std::ofstream(path) << j.dump();
  LLMI_REQUIRE_THROWS_WITH(Tokenizer::from_file(path), "unsupported tokenizer model 'Unigram'");
}
