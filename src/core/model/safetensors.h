#pragma once
// safetensors files (Hugging Face's format: an 8-byte little-endian header length,
// a JSON header naming each tensor's dtype, shape and byte range, then the raw
// little-endian data), memory-mapped. Every range and shape is checked against the
// file before a tensor is made, so a file that lies about its sizes is an Error,
// never a read out of bounds.
#include <filesystem>
#include <map>
#include <string>

#include "core/model/config.h"

namespace clipscope {

struct SafetensorsFile {
  StateDict tensors;                            // views of the mapping (kept alive by the tensors themselves)
  std::map<std::string, std::string> metadata;  // the header's "__metadata__"
};

// Throws Error naming `path` and the tensor or header field that is wrong.
SafetensorsFile read_safetensors(const std::filesystem::path& path);
// Whether the file starts like a safetensors file (a plausible header length, then '{').
bool looks_like_safetensors(const std::filesystem::path& path);

}  // namespace clipscope
