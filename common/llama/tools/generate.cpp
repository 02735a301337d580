// llama_generate: text generation with the llmi runtime, streaming tokens as they come.
//
//   llama_generate --model ../shared/models/pycode-19m --prompt "def fibonacci(n):"
//                  --max-new-tokens 128 --device cpu
//
// Prints the prompt and the continuation on stdout, then a summary on stderr: prefill and decode
// tokens/s (wall clock, sampling included).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "llmi/check.h"
#include "llmi/llama/cpu_runtime.h"
#include "llmi/llama/cuda_runtime.h"
#include "llmi/llama/generate.h"
#include "llmi/llama/tokenizer.h"

using namespace llmi::llama;

int main(int argc, char** argv) {
  CLI::App app{"Generate text with a Llama-family model (CPU fp32 reference or CUDA bf16)"};
  std::string model, prompt, prompt_file, device = "cpu";
  GenerateOptions gen;
  gen.max_new_tokens = 128;
  bool no_bos = false;
  app.add_option("--model", model, "Hugging Face model directory (config.json, safetensors, "
                                   "tokenizer.json)")
      ->required()
      ->check(CLI::ExistingDirectory);
  auto* p = app.add_option("--prompt", prompt, "prompt text");
  auto* pf = app.add_option("--prompt-file", prompt_file, "read the prompt from this file")
                 ->check(CLI::ExistingFile);
  p->excludes(pf);
  app.add_option("--max-new-tokens", gen.max_new_tokens, "tokens to generate")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--device", device, "cpu (fp32 reference) or cuda (bf16)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--temperature", gen.sampling.temperature, "0 = greedy")
      ->check(CLI::Range(0.0, 100.0));
  app.add_option("--top-k", gen.sampling.top_k, "keep the k most likely tokens (0 = all)")
      ->check(CLI::Range(0, 1 << 30));
  app.add_option("--top-p", gen.sampling.top_p, "nucleus mass in (0, 1]")
      ->check(CLI::Range(1e-6, 1.0));
  app.add_option("--seed", gen.sampling.seed, "sampling seed");
  app.add_option("--prefill-chunk", gen.prefill_chunk, "prompt tokens per step (0 = all at once)")
      ->check(CLI::Range(0, 1 << 20));
  app.add_flag("--no-bos", no_bos, "do not prepend the BOS token");
  bool ignore_eos = false;
  app.add_flag("--ignore-eos", ignore_eos, "do not stop at EOS");
  CLI11_PARSE(app, argc, argv);
  gen.stop_at_eos = !ignore_eos;

  try {
    if (!prompt_file.empty()) {
      std::ifstream in(prompt_file);
      std::stringstream ss;
      ss << in.rdbuf();
      prompt = ss.str();
    }
    LLMI_REQUIRE(!prompt.empty() || !no_bos, "empty prompt: give --prompt or --prompt-file");
    const Tokenizer tok = Tokenizer::from_file(model + "/tokenizer.json");
    auto weights = std::make_shared<const HostWeights>(load_weights(model));
    std::vector<int> ids;
    if (!no_bos && weights->config.bos_token >= 0) ids.push_back(weights->config.bos_token);
    const auto body = tok.encode(prompt);
    ids.insert(ids.end(), body.begin(), body.end());

    std::unique_ptr<Runtime> rt;
    if (device == "cpu") {
      RuntimeOptions o;
      o.max_seqs = 1;
      rt = make_cpu_runtime(weights, o);
    } else {
      CudaOptions o;
      o.max_seqs = 1;
      o.max_step_tokens = std::max(int(ids.size()), 16);
      rt = make_cuda_runtime(*weights, o);
    }
    std::cout << prompt << std::flush;
    const GenerateResult r = generate(*rt, ids, gen, [&](int t) {
      if (!tok.is_special(t)) std::cout << tok.decode({t}) << std::flush;
    });
    std::cout << "\n";
    const int decoded = int(r.tokens.size()) - 1;  // the first token comes from the prefill step
    std::fprintf(stderr,
                 "[%s] prompt %d tokens, generated %zu (stop: %s)\n"
                 "prefill: %.1f tok/s (%.3f s)   decode: %.1f tok/s (%d steps, %.3f s)\n",
                 rt->backend().c_str(), r.prefill_tokens, r.tokens.size(), r.stop_reason.c_str(),
                 r.prefill_tokens / r.prefill_seconds, r.prefill_seconds,
                 decoded > 0 ? decoded / r.decode_seconds : 0.0, decoded, r.decode_seconds);
    return 0;
  } catch (const llmi::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
