// Safetensors reader: memory-maps a file, validates its header, hands out typed views.
//
// Format (https://huggingface.co/docs/safetensors): 8-byte little-endian header length N, N bytes
// of JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the data; offsets are relative to the end of the header. Everything in the header is
// checked before any tensor is used (length, JSON, dtype, shape vs byte size, offsets inside the
// file, no two tensors overlapping), so a corrupt or truncated file is an llmi::Error naming the
// file and the tensor, never a crash.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "llmi/dtype.h"

namespace llmi::llama {

struct TensorView {
  std::string name;
  std::string file;             // path of the file it lives in (for error messages)
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;   // inside the mapping; valid while the file object lives
  size_t nbytes = 0;
  int64_t numel() const;
  std::string shape_str() const;  // "[384, 1024] bf16"
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);  // throws llmi::Error on any defect
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const TensorView* find(const std::string& name) const;  // nullptr when absent

 private:
  std::string path_;
  void* map_ = nullptr;
  size_t size_ = 0;
  std::map<std::string, TensorView> tensors_;
};

// A checkpoint directory: model.safetensors, or model.safetensors.index.json naming shards.
class Checkpoint {
 public:
  explicit Checkpoint(const std::string& dir);
  bool has(const std::string& name) const { return where_.count(name) != 0; }
  // Throws naming the tensor and directory when absent.
  const TensorView& get(const std::string& name) const;
  // The tensor as fp32 (converted from bf16/fp16/fp32), after checking its shape.
  std::vector<float> load_float(const std::string& name, const std::vector<int64_t>& shape) const;
  size_t num_tensors() const { return where_.size(); }

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView*> where_;
};

// Writes a valid safetensors file (fp32/bf16/fp16 tensors given as floats): used by tests to
// make fixtures, and to save random-weight models.
struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<float> values;
};
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors);

}  // namespace llmi::llama
