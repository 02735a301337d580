// Safetensors reader and writer (see safetensors.h for the format and the checks).
#include "llmi/llama/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "llmi/check.h"

namespace llmi::llama {

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string TensorView::shape_str() const {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << "] " << dtype_name(dtype);
  return os.str();
}

namespace {

// The tensor dtypes a Llama checkpoint stores; anything else (I64, BOOL, F8...) is rejected.
DType parse_weight_dtype(const std::string& s, const std::string& file, const std::string& name) {
  if (s == "F32") return DType::F32;
  if (s == "F16") return DType::F16;
  if (s == "BF16") return DType::BF16;
  throw Error(file + ": tensor '" + name + "' has unsupported dtype '" + s +
              "' (supported: F32, F16, BF16)");
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  LLMI_REQUIRE(fd >= 0, "cannot open safetensors file " << path << ": " << std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + ": not a regular file");
  }
  size_ = size_t(st.st_size);
  if (size_ < 8) {
    ::close(fd);
    throw Error(path + ": truncated safetensors file (" + std::to_string(size_) +
                " bytes, the header length alone needs 8)");
  }
  map_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw Error(path + ": mmap failed: " + std::strerror(errno));
  }
  try {
    const auto* bytes = static_cast<const unsigned char*>(map_);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];  // little-endian u64
    LLMI_REQUIRE(n <= size_ - 8, path << ": header length " << n << " exceeds the file ("
                                      << size_ << " bytes): truncated or corrupt");
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(bytes + 8, bytes + 8 + n);
    } catch (const nlohmann::json::exception& e) {
      throw Error(path + ": header is not valid JSON: " + e.what());
    }
    LLMI_REQUIRE(header.is_object(), path << ": header is not a JSON object");
    const size_t data_begin = 8 + size_t(n), data_size = size_ - data_begin;
    struct Span { size_t begin, end; std::string name; };
    std::vector<Span> spans;
    for (auto it = header.begin(); it != header.end(); ++it) {
      const std::string& name = it.key();
      if (name == "__metadata__") continue;
      const auto& e = it.value();
      auto where = [&] { return path + ": tensor '" + name + "'"; };
      LLMI_REQUIRE(e.is_object() && e.contains("dtype") && e.contains("shape") &&
                       e.contains("data_offsets"),
                   where() << ": entry needs dtype, shape and data_offsets");
      LLMI_REQUIRE(e["dtype"].is_string(), where() << ": dtype is not a string");
      TensorView t;
      t.name = name;
      t.file = path;
      t.dtype = parse_weight_dtype(e["dtype"].get<std::string>(), path, name);
      LLMI_REQUIRE(e["shape"].is_array(), where() << ": shape is not an array");
      for (const auto& d : e["shape"]) {
        LLMI_REQUIRE(d.is_number_integer() && d.get<int64_t>() >= 0 &&
                         d.get<int64_t>() < (int64_t(1) << 40),
                     where() << ": bad dimension " << d.dump());
        t.shape.push_back(d.get<int64_t>());
      }
      const auto& off = e["data_offsets"];
      LLMI_REQUIRE(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() &&
                       off[1].is_number_unsigned(),
                   where() << ": data_offsets must be two non-negative integers");
      const uint64_t b = off[0].get<uint64_t>(), en = off[1].get<uint64_t>();
      LLMI_REQUIRE(b <= en && en <= data_size,
                   where() << ": data_offsets [" << b << ", " << en
                           << "] lie outside the data section (" << data_size
                           << " bytes): truncated or corrupt file");
      t.nbytes = size_t(en - b);
      const double want = double(t.numel()) * double(dtype_size(t.dtype));
      LLMI_REQUIRE(double(t.nbytes) == want, where() << ": shape " << t.shape_str() << " needs "
                                                     << want << " bytes but data_offsets span "
                                                     << t.nbytes);
      t.data = bytes + data_begin + b;
      spans.push_back({size_t(b), size_t(en), name});
      tensors_.emplace(name, std::move(t));
    }
    std::sort(spans.begin(), spans.end(),
              [](const Span& a, const Span& b) { return a.begin < b.begin; });
    for (size_t i = 1; i < spans.size(); ++i)
      LLMI_REQUIRE(spans[i].begin >= spans[i - 1].end,
                   path << ": tensors '" << spans[i - 1].name << "' and '" << spans[i].name
                        << "' overlap in the data section");
  } catch (...) {
    ::munmap(map_, size_);
    map_ = nullptr;
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, size_);
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

namespace {
bool file_exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}
}  // namespace

Checkpoint::Checkpoint(const std::string& dir) : dir_(dir) {
  const std::string single = dir + "/model.safetensors";
  const std::string index = dir + "/model.safetensors.index.json";
  if (file_exists(index)) {
    std::ifstream in(index);
    LLMI_REQUIRE(in, "cannot read " << index);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw Error(index + ": not valid JSON: " + e.what());
    }
    LLMI_REQUIRE(j.contains("weight_map") && j["weight_map"].is_object(),
                 index << ": no weight_map object");
    std::map<std::string, SafetensorsFile*> opened;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      LLMI_REQUIRE(it.value().is_string(), index << ": weight_map entry '" << it.key()
                                                 << "' is not a file name");
      const std::string shard = it.value().get<std::string>();
      LLMI_REQUIRE(shard.find('/') == std::string::npos,
                   index << ": shard name '" << shard << "' must be a plain file name");
      auto f = opened.find(shard);
      if (f == opened.end()) {
        files_.push_back(std::make_unique<SafetensorsFile>(dir + "/" + shard));
        f = opened.emplace(shard, files_.back().get()).first;
      }
      const TensorView* t = f->second->find(it.key());
      LLMI_REQUIRE(t, index << " maps tensor '" << it.key() << "' to " << shard
                            << ", which does not contain it");
      where_[it.key()] = t;
    }
  } else if (file_exists(single)) {
    files_.push_back(std::make_unique<SafetensorsFile>(single));
    for (const auto& kv : files_.back()->tensors()) where_[kv.first] = &kv.second;
  } else {
    throw Error("no checkpoint in '" + dir +
                "': expected model.safetensors or model.safetensors.index.json");
  }
}

const TensorView& Checkpoint::get(const std::string& name) const {
  auto it = where_.find(name);
  LLMI_REQUIRE(it != where_.end(), "checkpoint " << dir_ << " has no tensor '" << name << "'");
  return *it->second;
}

std::vector<float> Checkpoint::load_float(const std::string& name,
                                          const std::vector<int64_t>& shape) const {
  const TensorView& t = get(name);
  TensorView expected;
  expected.dtype = t.dtype;
  expected.shape = shape;
  LLMI_REQUIRE(t.shape == shape, t.file << ": tensor '" << name << "' has shape "
                                        << t.shape_str() << ", the config implies "
                                        << expected.shape_str());
  std::vector<float> out(size_t(t.numel()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = load_as_float(t.data, t.dtype, i);
  return out;
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  size_t offset = 0;
  for (const auto& t : tensors) {
    int64_t n = 1;
    for (auto d : t.shape) n *= d;
    LLMI_REQUIRE(size_t(n) == t.values.size(), "write_safetensors: '" << t.name << "' has "
                                                   << t.values.size() << " values for its shape");
    const char* dt = t.dtype == DType::F32 ? "F32" : t.dtype == DType::F16 ? "F16" : "BF16";
    LLMI_REQUIRE(t.dtype == DType::F32 || t.dtype == DType::F16 || t.dtype == DType::BF16,
                 "write_safetensors: unsupported dtype for '" << t.name << "'");
    const size_t nb = t.values.size() * dtype_size(t.dtype);
    header[t.name] = {{"dtype", dt}, {"shape", t.shape}, {"data_offsets", {offset, offset + nb}}};
    offset += nb;
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8) h.push_back(' ');  // the spec pads the header with spaces
  std::ofstream out(path, std::ios::binary);
  LLMI_REQUIRE(out, "cannot write " << path);
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out.put(char((n >> (8 * i)) & 0xff));
  out.write(h.data(), std::streamsize(h.size()));
  for (const auto& t : tensors) {
    std::vector<unsigned char> buf(t.values.size() * dtype_size(t.dtype));
    for (size_t i = 0; i < t.values.size(); ++i) store_from_float(buf.data(), t.dtype, i, t.values[i]);
    out.write(reinterpret_cast<const char*>(buf.data()), std::streamsize(buf.size()));
  }
  LLMI_REQUIRE(out.good(), "write failed: " << path);
}

}  // namespace llmi::llama
