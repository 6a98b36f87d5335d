#pragma once
// Reading torch.save archives (the zip format of PyTorch >= 1.6) without
// LibTorch's unpickler, which turns every collections.OrderedDict into None and so
// cannot read what `torch.save(model.state_dict())` writes. A small pickle machine
// for the opcodes Python's pickle writes (protocols 2-5, the text opcodes of 0-1
// that carry plain values) builds a tree of Python values; tensors in it are
// references to the archive's storages, read only when asked for, so a training
// checkpoint's optimizer state costs nothing.
#include <torch/types.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace caffe2::serialize {
class PyTorchStreamReader;
}

namespace clipscope::pickle {

// A tensor as torch.save records it: a view (offset, sizes, strides, in elements)
// of a typed storage, archive record "data/<storage_key>".
struct TensorRef {
  std::string storage_key;
  torch::ScalarType dtype = torch::kFloat;
  int64_t storage_numel = 0;
  std::string location;  // "cpu", "cuda:0", ...
  int64_t offset = 0;
  std::vector<int64_t> sizes, strides;
};

struct Value;
using ValuePtr = std::shared_ptr<Value>;

// One Python value. Lists and dicts are shared (the pickle memo refers to them
// again), so they are held by pointer.
struct Value {
  enum class Kind { None, Bool, Int, Float, String, Bytes, Tuple, List, Dict, Set, Tensor, Global, Object };
  Kind kind = Kind::None;
  bool boolean = false;
  int64_t integer = 0;  // Int (Python ints beyond 64 bits are refused)
  double real = 0;
  std::string text;                                    // String, Bytes; Global/Object: "module.name"
  std::vector<ValuePtr> items;                         // Tuple, List, Set; Object: the constructor's arguments
  std::vector<std::pair<ValuePtr, ValuePtr>> entries;  // Dict, in insertion order
  std::shared_ptr<TensorRef> tensor;                   // Tensor
  ValuePtr state;  // what BUILD gave (an OrderedDict's _metadata, an object's __dict__)

  bool is(Kind k) const { return kind == k; }
  // The entry of a dict whose key is the string `key`; nullptr when absent.
  const Value* get(const std::string& key) const;
  // Python-like, shortened: 7, 'ViT-B-32', dict(3 entries), tensor float32 [512, 768].
  std::string summary() const;
};

// An opened torch.save archive and its unpickled data.pkl.
class Archive {
 public:
  // Throws Error naming `path` when the archive or its pickle is unreadable.
  explicit Archive(const std::filesystem::path& path);
  ~Archive();
  Archive(const Archive&) = delete;
  Archive& operator=(const Archive&) = delete;

  const Value& root() const { return *root_; }
  // Reads the tensor's storage (once per storage; views share it) and returns the
  // view. Throws Error naming `name` when the storage record is missing or too short.
  torch::Tensor tensor(const TensorRef& ref, const std::string& name);

 private:
  std::filesystem::path path_;
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader_;
  ValuePtr root_;
  std::map<std::string, torch::Tensor> storages_;
};

// Unpickles `bytes` (tests, and Archive). `source` names the data in errors.
ValuePtr unpickle(const std::string& bytes, const std::string& source);

}  // namespace clipscope::pickle
