#include "core/model/checkpoint.h"

#include <torch/csrc/jit/serialization/import_read.h>

#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/script.h>

#include <fstream>

#include "core/util/error.h"

namespace clipscope {
namespace fs = std::filesystem;

namespace {

// c10 errors carry multi-line messages with backtraces; keep the first line.
std::string first_line(const std::string& s) {
  auto end = s.find('\n');
  std::string line = s.substr(0, end);
  if (line.size() > 200) line = line.substr(0, 200) + "...";
  return line;
}

std::string strip_prefix(const std::string& key) {
  return key.rfind("module.", 0) == 0 ? key.substr(7) : key;
}

void collect_tensors(const c10::impl::GenericDict& dict, StateDict& out) {
  for (const auto& entry : dict) {
    if (!entry.key().isString() || !entry.value().isTensor()) continue;
    out[strip_prefix(entry.key().toStringRef())] = entry.value().toTensor();
  }
}

StateDict read_torchscript(const fs::path& path) {
  torch::jit::Module module;
  try {
    module = torch::jit::load(path.string(), torch::kCPU);
  } catch (const c10::Error& e) {
    throw Error(fmt::format("{}: cannot load TorchScript archive: {}", path.string(), first_line(e.what_without_backtrace())));
  }
  StateDict sd;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) sd[p.name] = p.value;
  for (const auto& b : module.named_buffers(/*recurse=*/true)) sd[b.name] = b.value;
  return sd;
}

StateDict read_pickled_state_dict(const fs::path& path) {
  c10::IValue value;
  try {
    // What torch::pickle_load does, reading tensors from the file record by record
    // instead of from a copy of the whole file in memory (one checkpoint-size less at peak).
    caffe2::serialize::PyTorchStreamReader reader(path.string());
    value = torch::jit::readArchiveAndTensors("data", /*pickle_prefix=*/"", /*tensor_prefix=*/"", c10::nullopt,
                                              c10::nullopt, c10::nullopt, reader);
  } catch (const c10::Error& e) {
    throw Error(fmt::format("{}: cannot read torch.save archive: {}", path.string(), first_line(e.what_without_backtrace())));
  }
  if (!value.isGenericDict()) throw Error(fmt::format("{}: torch.save archive does not hold a dict", path.string()));
  auto dict = value.toGenericDict();
  // open_clip training checkpoints wrap the weights: {"epoch", "name", "state_dict", "optimizer"}.
  for (const char* wrapper : {"state_dict", "model", "model_state_dict"}) {
    for (const auto& entry : dict) {
      if (entry.key().isString() && entry.key().toStringRef() == wrapper && entry.value().isGenericDict()) {
        StateDict sd;
        collect_tensors(entry.value().toGenericDict(), sd);
        return sd;
      }
    }
  }
  StateDict sd;
  collect_tensors(dict, sd);
  return sd;
}

}  // namespace

Checkpoint read_checkpoint(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(fmt::format("{}: no such file", path.string()));
  if (fs::is_directory(path, ec)) throw Error(fmt::format("{}: is a directory, not a checkpoint file", path.string()));

  unsigned char magic[4] = {0, 0, 0, 0};
  {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error(fmt::format("{}: cannot open", path.string()));
    f.read(reinterpret_cast<char*>(magic), 4);
  }
  if (magic[0] == 0x80 && magic[1] <= 5)
    throw Error(fmt::format("{}: legacy (pre-1.6) torch.save format is not supported; re-save it with torch.save in PyTorch >= 1.6",
                            path.string()));
  if (!(magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4))
    throw Error(fmt::format("{}: not a PyTorch checkpoint (expected a torch.save or TorchScript zip archive)", path.string()));

  bool torchscript = false;
  try {
    caffe2::serialize::PyTorchStreamReader reader(path.string());
    for (const auto& record : reader.getAllRecords())
      if (record == "constants.pkl" || record.rfind("code/", 0) == 0) torchscript = true;
    if (!torchscript && !reader.hasRecord("data.pkl"))
      throw Error(fmt::format("{}: zip archive without data.pkl: not a PyTorch checkpoint", path.string()));
  } catch (const c10::Error& e) {
    throw Error(fmt::format("{}: truncated or corrupt checkpoint archive ({})", path.string(), first_line(e.what_without_backtrace())));
  }

  Checkpoint ckpt{path, torchscript ? CheckpointFormat::TorchScript : CheckpointFormat::StateDict, {}};
  ckpt.state_dict = torchscript ? read_torchscript(path) : read_pickled_state_dict(path);
  if (ckpt.state_dict.empty()) throw Error(fmt::format("{}: checkpoint holds no tensors", path.string()));
  return ckpt;
}

void save_state_dict(const fs::path& path, const StateDict& sd) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [key, tensor] : sd) dict.insert(key, tensor.detach().to(torch::kCPU).contiguous());
  const std::vector<char> bytes = torch::pickle_save(dict);
  const fs::path tmp = path.string() + ".part";
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) throw Error(fmt::format("{}: cannot open for writing", tmp.string()));
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f) throw Error(fmt::format("{}: write failed", tmp.string()));
  }
  fs::rename(tmp, path);
}

size_t load_state_dict(torch::nn::Module& module, const StateDict& sd, const std::string& source) {
  torch::NoGradGuard no_grad;
  std::vector<std::string> missing;
  size_t used = 0;
  auto copy_into = [&](const std::string& name, torch::Tensor& target) {
    auto it = sd.find(name);
    if (it == sd.end()) {
      missing.push_back(name);
      return;
    }
    if (it->second.sizes() != target.sizes())
      throw Error(fmt::format("{}: shape mismatch for '{}': checkpoint has [{}], the model expects [{}]", source, name,
                              fmt::join(it->second.sizes(), ", "), fmt::join(target.sizes(), ", ")));
    target.copy_(it->second);
    ++used;
  };
  for (auto& p : module.named_parameters(/*recurse=*/true)) copy_into(p.key(), p.value());
  for (auto& b : module.named_buffers(/*recurse=*/true)) copy_into(b.key(), b.value());
  if (!missing.empty()) {
    std::vector<std::string> shown(missing.begin(), missing.begin() + std::min<size_t>(missing.size(), 3));
    throw Error(fmt::format("{}: checkpoint is missing {} key(s) the model needs: {}{}", source, missing.size(),
                            fmt::join(shown, ", "), missing.size() > shown.size() ? ", ..." : ""));
  }
  return sd.size() - used;
}

}  // namespace clipscope
