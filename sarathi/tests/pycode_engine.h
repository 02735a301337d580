// What the engine tests share: the real pycode-19m checkpoint on the CPU fp32 runtime, a few code
// prompts, the unbatched greedy reference, and a scheduler configuration tight enough to force
// chunking, batching and recompute preemption.
#pragma once
#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include "llmi/check.h"
#include "llmi/llama/cpu_runtime.h"
#include "llmi/llama/generate.h"
#include "llmi/llama/tokenizer.h"
#include "llmi/llama/weights.h"
#include "sarathi/scheduler.h"

namespace sarathi::test {

inline std::string pycode_dir() {
  const std::string dir = LLMI_PYCODE_DIR;
  struct stat st {};
  LLMI_REQUIRE(::stat((dir + "/config.json").c_str(), &st) == 0,
               "pycode-19m not found at " << dir << " (shared/ must sit beside the repository)");
  return dir;
}

inline std::shared_ptr<const llmi::llama::HostWeights> pycode() {
  static auto w =
      std::make_shared<const llmi::llama::HostWeights>(llmi::llama::load_weights(pycode_dir()));
  return w;
}

inline std::vector<std::vector<int>> prompts() {
  const auto tok = llmi::llama::Tokenizer::from_file(pycode_dir() + "/tokenizer.json");
  const std::vector<std::string> texts = {
      "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    if n < 2:\n",
      "import os\n",
      "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, x):\n"
      "        self.items.append(x)\n\n    def pop(self):\n",
      "x",
      "for i in range(10):\n    if i % 2 == 0:\n        print(i)\n    else:\n",
  };
  std::vector<std::vector<int>> out;
  for (const auto& t : texts) out.push_back(tok.encode(t));
  return out;
}

// How many tokens each of prompts() generates in the engine tests.
inline std::vector<int> output_lengths() { return {10, 6, 8, 12, 7}; }

// The CPU runtime the engine tests serve on: a slot for each of tight_config()'s 3 sequences,
// 160 tokens each (the longest prompt plus its output).
inline std::unique_ptr<llmi::llama::Runtime> engine_runtime() {
  llmi::llama::RuntimeOptions o;
  o.max_seqs = 3, o.max_context = 160;
  return llmi::llama::make_cpu_runtime(pycode(), o);
}

// Unbatched greedy decoding: the tokens every scheduler must reproduce.
inline std::vector<int> greedy(llmi::llama::Runtime& rt, const std::vector<int>& prompt, int n) {
  llmi::llama::GenerateOptions g;
  g.max_new_tokens = n, g.stop_at_eos = false;
  return llmi::llama::generate(rt, prompt, g).tokens;
}

// 3 sequences, chunked prefills, and 80 tokens of KV: room for the largest request of prompts()
// but not for three at once, so running them together forces recompute preemption.
inline SchedulerConfig tight_config() {
  SchedulerConfig c;
  c.max_batch_seqs = 3, c.token_budget = 16, c.chunk_size = 9, c.block_size = 4;
  c.kv_blocks = 20;
  return c;
}

}  // namespace sarathi::test
