#include "core/model/checkpoint.h"

#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/script.h>

#include <fstream>

#include "core/model/safetensors.h"
#include "core/model/torch_pickle.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/strings.h"

namespace clipscope {
namespace fs = std::filesystem;

namespace {

// Key prefixes that wrappers add: DataParallel/DDP ("module."), torch.compile ("_orig_mod.").
std::string strip_prefixes(std::string key) {
  for (bool again = true; again;) {
    again = false;
    for (std::string_view prefix : {"module.", "_orig_mod."})
      if (key.starts_with(prefix)) {
        key.erase(0, prefix.size());
        again = true;
      }
  }
  return key;
}

// open_clip's CustomTextCLIP keeps the text tower under "text." (text.transformer,
// text.token_embedding, ...); OpenAI's layout has it at the top level.
void lift_text_tower(StateDict& sd) {
  if (sd.count("token_embedding.weight") || !sd.count("text.token_embedding.weight")) return;
  StateDict out;
  for (auto& [key, tensor] : sd) out[key.starts_with("text.") ? key.substr(5) : key] = tensor;
  sd = std::move(out);
}

StateDict read_torchscript(const fs::path& path) {
  torch::jit::Module module;
  try {
    module = torch::jit::load(path.string(), torch::kCPU);
  } catch (const c10::Error& e) {
    throw Error(
        fmt::format("{}: cannot load TorchScript archive: {}", path.string(), first_line(e.what_without_backtrace())));
  }
  StateDict sd;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) sd[p.name] = p.value;
  for (const auto& b : module.named_buffers(/*recurse=*/true)) sd[b.name] = b.value;
  return sd;
}

bool holds_tensors(const pickle::Value& v) {
  if (!v.is(pickle::Value::Kind::Dict)) return false;
  for (const auto& [key, value] : v.entries)
    if (value->is(pickle::Value::Kind::Tensor)) return true;
  return false;
}

void read_torch_save(Checkpoint& ckpt) {
  pickle::Archive archive(ckpt.path);
  const pickle::Value& root = archive.root();
  if (!root.is(pickle::Value::Kind::Dict))
    throw Error(
        fmt::format("{}: torch.save archive holds a {}, not a dict of tensors", ckpt.path.string(), root.summary()));
  // Training checkpoints wrap the weights: open_clip's {"epoch", "name", "state_dict", "optimizer"}.
  const pickle::Value* weights = &root;
  for (const char* entry : {"state_dict", "model", "model_state_dict", "module"}) {
    const pickle::Value* v = root.get(entry);
    if (v && holds_tensors(*v)) {
      weights = v;
      ckpt.weights_entry = entry;
      break;
    }
  }
  for (const auto& [key, value] : weights->entries) {
    if (!key->is(pickle::Value::Kind::String) || !value->is(pickle::Value::Kind::Tensor)) continue;
    ckpt.state_dict[strip_prefixes(key->text)] = archive.tensor(*value->tensor, key->text);
  }
  if (weights == &root) return;
  for (const auto& [key, value] : root.entries) {
    const std::string name = key->is(pickle::Value::Kind::String) ? key->text : key->summary();
    if (name != ckpt.weights_entry) ckpt.extras.emplace_back(name, value->summary());
  }
}

}  // namespace

std::string_view checkpoint_format_name(CheckpointFormat format) {
  switch (format) {
    case CheckpointFormat::TorchScript:
      return "TorchScript archive";
    case CheckpointFormat::TorchSave:
      return "torch.save archive";
    case CheckpointFormat::Safetensors:
      return "safetensors";
  }
  return "?";
}

fs::path checkpoint_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return path;
  for (const char* name : {"open_clip_model.safetensors", "open_clip_pytorch_model.bin"})
    if (fs::is_regular_file(path / name, ec)) return path / name;
  throw Error(
      fmt::format("{}: a folder, and not an open_clip hub folder (no open_clip_model.safetensors or "
                  "open_clip_pytorch_model.bin in it)",
                  path.string()));
}

Checkpoint read_checkpoint(const fs::path& given) {
  std::error_code ec;
  if (!fs::exists(given, ec)) throw Error(fmt::format("{}: no such file", given.string()));
  const fs::path path = checkpoint_file(given);

  unsigned char magic[4] = {0, 0, 0, 0};
  {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error(fmt::format("{}: cannot open", path.string()));
    f.read(reinterpret_cast<char*>(magic), 4);
  }
  Checkpoint ckpt{path, CheckpointFormat::TorchSave, {}, {}, {}, {}};
  if (const fs::path config = path.parent_path() / kOpenClipConfigName; fs::is_regular_file(config, ec))
    ckpt.open_clip_config = config;

  if (looks_like_safetensors(path)) {
    ckpt.format = CheckpointFormat::Safetensors;
    SafetensorsFile file = read_safetensors(path);
    for (auto& [key, tensor] : file.tensors) ckpt.state_dict[strip_prefixes(key)] = std::move(tensor);
    for (auto& [key, value] : file.metadata) ckpt.extras.emplace_back(key, value);
  } else {
    if (magic[0] == 0x80 && magic[1] <= 5)
      throw Error(
          fmt::format("{}: legacy (pre-1.6) torch.save format is not supported; re-save it with torch.save in "
                      "PyTorch >= 1.6",
                      path.string()));
    if (!(magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4))
      throw Error(
          fmt::format("{}: not a PyTorch checkpoint (expected a torch.save or TorchScript zip archive, or "
                      "safetensors)",
                      path.string()));
    bool torchscript = false;
    try {
      caffe2::serialize::PyTorchStreamReader reader(path.string());
      for (const auto& record : reader.getAllRecords())
        if (record == "constants.pkl" || record.rfind("code/", 0) == 0) torchscript = true;
      if (!torchscript && !reader.hasRecord("data.pkl"))
        throw Error(fmt::format("{}: zip archive without data.pkl: not a PyTorch checkpoint", path.string()));
    } catch (const c10::Error& e) {
      throw Error(fmt::format("{}: truncated or corrupt checkpoint archive ({})", path.string(),
                              first_line(e.what_without_backtrace())));
    }
    if (torchscript) {
      ckpt.format = CheckpointFormat::TorchScript;
      ckpt.state_dict = read_torchscript(path);
    } else {
      read_torch_save(ckpt);
    }
  }
  lift_text_tower(ckpt.state_dict);
  if (ckpt.state_dict.empty()) throw Error(fmt::format("{}: checkpoint holds no tensors", path.string()));
  return ckpt;
}

void save_state_dict(const fs::path& path, const StateDict& sd) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [key, tensor] : sd) dict.insert(key, tensor.detach().to(torch::kCPU).contiguous());
  const std::vector<char> bytes = torch::pickle_save(dict);
  write_file_atomically(path, std::string_view(bytes.data(), bytes.size()));
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
    if (target.is_floating_point() && !it->second.is_floating_point())
      throw Error(fmt::format("{}: '{}' is {} in the checkpoint; the model needs floating point", source, name,
                              c10::toString(it->second.scalar_type())));
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
