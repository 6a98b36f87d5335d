#pragma once
// Writing files so that a reader never sees half of one: the bytes go to
// "<path>.part", which is flushed and then renamed over `path`.
#include <filesystem>
#include <string_view>

namespace clipscope {

// Throws Error naming the file when it cannot be written or renamed; the ".part"
// file is removed on failure.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes);

}  // namespace clipscope
