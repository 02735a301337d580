// Parsing of Hugging Face config.json for the Llama, Mistral and Qwen2 variants.
#include "llmi/llama/config.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "llmi/check.h"

namespace llmi::llama {

namespace {

int get_int(const nlohmann::json& j, const char* key, const std::string& origin) {
  LLMI_REQUIRE(j.contains(key) && j[key].is_number_integer(),
               origin << ": missing or non-integer field '" << key << "'");
  return j[key].get<int>();
}

}  // namespace

Config Config::from_file(const std::string& path) {
  std::ifstream in(path);
  LLMI_REQUIRE(in, "cannot open model config " << path);
  std::stringstream ss;
  ss << in.rdbuf();
  return from_json_text(ss.str(), path);
}

Config Config::from_json_text(const std::string& text, const std::string& origin) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(origin + ": not valid JSON: " + e.what());
  }
  LLMI_REQUIRE(j.is_object(), origin << ": not a JSON object");
  Config c;
  c.model_type = j.value("model_type", std::string());
  const std::vector<std::string> supported = {"llama", "mistral", "qwen2"};
  LLMI_REQUIRE(std::find(supported.begin(), supported.end(), c.model_type) != supported.end(),
               origin << ": unsupported architecture model_type='" << c.model_type
                      << "' (supported: llama, mistral, qwen2)");
  if (j.contains("architectures") && j["architectures"].is_array())
    for (const auto& a : j["architectures"]) {
      const std::string s = a.get<std::string>();
      LLMI_REQUIRE(s == "LlamaForCausalLM" || s == "MistralForCausalLM" || s == "Qwen2ForCausalLM",
                   origin << ": unsupported architecture '" << s << "'");
    }
  c.vocab_size = get_int(j, "vocab_size", origin);
  c.hidden = get_int(j, "hidden_size", origin);
  c.intermediate = get_int(j, "intermediate_size", origin);
  c.layers = get_int(j, "num_hidden_layers", origin);
  c.heads = get_int(j, "num_attention_heads", origin);
  c.kv_heads = j.contains("num_key_value_heads") && !j["num_key_value_heads"].is_null()
                   ? get_int(j, "num_key_value_heads", origin)
                   : c.heads;
  c.head_dim = j.contains("head_dim") && !j["head_dim"].is_null() ? get_int(j, "head_dim", origin)
                                                                  : (c.heads ? c.hidden / c.heads : 0);
  c.max_positions = get_int(j, "max_position_embeddings", origin);
  c.rms_eps = j.value("rms_norm_eps", 1e-6);
  // rope_theta sits at the top level in older configs, under rope_parameters in newer ones.
  const nlohmann::json* rope = nullptr;
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) rope = &j["rope_parameters"];
  if (j.contains("rope_scaling") && j["rope_scaling"].is_object()) rope = &j["rope_scaling"];
  if (rope) {
    std::string type = rope->value("rope_type", rope->value("type", std::string("default")));
    LLMI_REQUIRE(type == "default", origin << ": unsupported rope scaling type '" << type
                                           << "' (only the default RoPE is implemented)");
    if (rope->contains("rope_theta")) c.rope_theta = (*rope)["rope_theta"].get<double>();
  }
  if (j.contains("rope_theta")) c.rope_theta = j["rope_theta"].get<double>();
  c.tie_embeddings = j.value("tie_word_embeddings", false);
  const std::string act = j.value("hidden_act", std::string("silu"));
  LLMI_REQUIRE(act == "silu", origin << ": unsupported hidden_act '" << act << "' (need silu)");
  LLMI_REQUIRE(!j.value("mlp_bias", false), origin << ": mlp_bias=true is not supported");
  if (c.model_type == "qwen2") {
    c.qkv_bias = true;  // Qwen2 always has q/k/v biases and none on o_proj
  } else {
    c.qkv_bias = c.o_bias = j.value("attention_bias", false);
  }
  // Mistral's sliding window: attention here is over the whole context, which equals the
  // sliding window only while the context fits inside it, so cap the context there.
  if (j.contains("sliding_window") && j["sliding_window"].is_number_integer() &&
      j.value("use_sliding_window", c.model_type == "mistral"))
    c.max_positions = std::min(c.max_positions, j["sliding_window"].get<int>());
  if (j.contains("bos_token_id") && j["bos_token_id"].is_number_integer())
    c.bos_token = j["bos_token_id"].get<int>();
  if (j.contains("eos_token_id")) {
    const auto& e = j["eos_token_id"];
    if (e.is_number_integer()) c.eos_tokens.push_back(e.get<int>());
    if (e.is_array())
      for (const auto& x : e) c.eos_tokens.push_back(x.get<int>());
  }
  try {
    c.validate();
  } catch (const Error& e) {
    throw Error(origin + ": " + e.what());
  }
  return c;
}

void Config::validate() const {
  LLMI_REQUIRE(vocab_size > 0 && hidden > 0 && intermediate > 0 && layers > 0 && heads > 0 &&
                   kv_heads > 0 && head_dim > 0 && max_positions > 0,
               "model shape has a non-positive field (vocab " << vocab_size << ", hidden " << hidden
                   << ", intermediate " << intermediate << ", layers " << layers << ", heads "
                   << heads << ", kv_heads " << kv_heads << ", head_dim " << head_dim
                   << ", max_positions " << max_positions << ")");
  LLMI_REQUIRE(heads % kv_heads == 0,
               "num_attention_heads " << heads << " is not a multiple of num_key_value_heads "
                                      << kv_heads);
  LLMI_REQUIRE(head_dim % 2 == 0, "head_dim " << head_dim << " must be even for RoPE");
  LLMI_REQUIRE(rope_theta > 0 && rms_eps > 0, "rope_theta and rms_norm_eps must be positive");
  for (int e : eos_tokens)
    LLMI_REQUIRE(e >= 0 && e < vocab_size, "eos_token_id " << e << " outside the vocabulary");
}

Config Config::preset(const std::string& name) {
  Config c;
  c.max_positions = 4096;
  c.rms_eps = 1e-5;
  c.bos_token = 1;
  c.eos_tokens = {2};
  if (name == "llama2-7b") {
    c.vocab_size = 32000, c.hidden = 4096, c.intermediate = 11008, c.layers = 32, c.heads = 32,
    c.kv_heads = 32;
  } else if (name == "llama2-13b") {
    c.vocab_size = 32000, c.hidden = 5120, c.intermediate = 13824, c.layers = 40, c.heads = 40,
    c.kv_heads = 40;
  } else if (name == "llama3-8b") {
    c.vocab_size = 128256, c.hidden = 4096, c.intermediate = 14336, c.layers = 32, c.heads = 32,
    c.kv_heads = 8, c.max_positions = 8192, c.rope_theta = 500000.0, c.bos_token = 128000,
    c.eos_tokens = {128001, 128009};
  } else {
    throw Error("unknown model preset '" + name + "' (known: llama2-7b, llama2-13b, llama3-8b)");
  }
  c.head_dim = c.hidden / c.heads;
  c.validate();
  return c;
}

std::vector<std::string> Config::preset_names() { return {"llama2-7b", "llama2-13b", "llama3-8b"}; }

int64_t Config::num_params() const {
  const int64_t h = hidden;
  const int64_t attn = h * q_dim() * 2 + h * kv_dim() * 2 + (qkv_bias ? q_dim() + 2 * kv_dim() : 0) +
                       (o_bias ? h : 0);
  const int64_t mlp = 3 * h * intermediate;
  const int64_t per_layer = attn + mlp + 2 * h;
  return int64_t(layers) * per_layer + h + int64_t(vocab_size) * h * (tie_embeddings ? 1 : 2);
}

bool Config::is_eos(int token) const {
  return std::find(eos_tokens.begin(), eos_tokens.end(), token) != eos_tokens.end();
}

}  // namespace llmi::llama
