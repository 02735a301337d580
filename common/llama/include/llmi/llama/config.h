// Model shape and hyper-parameters of a Llama-family decoder (Llama, Mistral, Qwen2).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace llmi::llama {

struct Config {
  std::string model_type = "llama";  // llama | mistral | qwen2
  int vocab_size = 0;
  int hidden = 0;               // d_model
  int intermediate = 0;         // SwiGLU inner size
  int layers = 0;
  int heads = 0;                // query heads
  int kv_heads = 0;             // grouped-query attention: heads % kv_heads == 0
  int head_dim = 0;
  int max_positions = 0;        // the longest context the model supports
  double rms_eps = 1e-5;
  double rope_theta = 10000.0;
  bool tie_embeddings = false;  // lm_head reuses embed_tokens
  bool qkv_bias = false;        // q/k/v projections carry a bias (Qwen2, Llama attention_bias)
  bool o_bias = false;          // o_proj carries a bias (Llama attention_bias)
  int bos_token = -1;
  std::vector<int> eos_tokens;

  // Reads a Hugging Face config.json; throws llmi::Error for a missing file, a missing field or an
  // unsupported architecture / feature (rope scaling, MLP bias, ...).
  static Config from_file(const std::string& path);
  static Config from_json_text(const std::string& text, const std::string& origin);
  // Shapes of real models for random-weight benchmarks: llama2-7b, llama2-13b, llama3-8b.
  static Config preset(const std::string& name);
  static std::vector<std::string> preset_names();

  void validate() const;  // consistent shapes; throws naming the offending field
  int q_dim() const { return heads * head_dim; }
  int kv_dim() const { return kv_heads * head_dim; }
  int64_t num_params() const;  // including both embeddings when untied
  bool is_eos(int token) const;
};

}  // namespace llmi::llama
