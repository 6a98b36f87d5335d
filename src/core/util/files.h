#pragma once
// Writing files so that a reader never sees half of one: the bytes go to
// "<path>.part", which is completed and then renamed over `path`. The one place
// clipscope does this; every writer of a result, cache or checkpoint uses it.
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace clipscope {

// "<path>.part": where a file or directory is written before it replaces `path`.
std::filesystem::path partial_path(const std::filesystem::path& path);

// Renames `part` over `path` (atomic on POSIX). On failure removes `part` and
// throws Error naming `path`.
void commit_partial(const std::filesystem::path& part, const std::filesystem::path& path);

// Calls write(partial_path(path)), then commit_partial. If `write` throws, the
// partial file or directory is removed and the exception propagates.
void write_atomically(const std::filesystem::path& path,
                      const std::function<void(const std::filesystem::path& part)>& write);

// write_atomically for bytes in memory. Throws Error naming the file when it
// cannot be written (a full disk included) or renamed.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes);

// The entries of a list file (class names, attack texts): one per line, surrounding
// white space trimmed, blank lines and lines starting with '#' skipped. Throws
// ArgumentError naming `what` and the file when it cannot be read or has no entry.
std::vector<std::string> read_list_file(const std::filesystem::path& path, const std::string& what);

}  // namespace clipscope
