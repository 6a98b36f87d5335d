#include "core/hub/zoo.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <pwd.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include "core/hub/download.h"
#include "core/util/error.h"

namespace clipscope {
namespace {

namespace fs = std::filesystem;

struct OfficialEntry {
  std::string_view name;
  std::string_view url;
};

// _MODELS from openai/CLIP clip/clip.py (main branch), in its order.
constexpr OfficialEntry kOfficialModels[] = {
    {"RN50",
     "https://openaipublic.azureedge.net/clip/models/"
     "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt"},
    {"RN101",
     "https://openaipublic.azureedge.net/clip/models/"
     "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599/RN101.pt"},
    {"RN50x4",
     "https://openaipublic.azureedge.net/clip/models/"
     "7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd/RN50x4.pt"},
    {"RN50x16",
     "https://openaipublic.azureedge.net/clip/models/"
     "52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa/RN50x16.pt"},
    {"RN50x64",
     "https://openaipublic.azureedge.net/clip/models/"
     "be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c/RN50x64.pt"},
    {"ViT-B/32",
     "https://openaipublic.azureedge.net/clip/models/"
     "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt"},
    {"ViT-B/16",
     "https://openaipublic.azureedge.net/clip/models/"
     "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt"},
    {"ViT-L/14",
     "https://openaipublic.azureedge.net/clip/models/"
     "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt"},
    {"ViT-L/14@336px",
     "https://openaipublic.azureedge.net/clip/models/"
     "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02/ViT-L-14-336px.pt"},
};

// OpenAI publishes each checkpoint under its own SHA-256 (clip.py checks the same way).
std::string second_to_last_segment(std::string_view url) {
  const size_t last = url.rfind('/');
  const size_t previous =
      (last == std::string_view::npos || last == 0) ? std::string_view::npos : url.rfind('/', last - 1);
  if (previous == std::string_view::npos) return {};
  return std::string(url.substr(previous + 1, last - previous - 1));
}

std::string last_segment(std::string_view url) {
  url = url.substr(0, url.find_first_of("?#"));
  const size_t slash = url.rfind('/');
  return std::string(slash == std::string_view::npos ? url : url.substr(slash + 1));
}

bool filename_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

std::string replace_unsafe_chars(std::string_view text) {
  std::string out;
  for (char c : text) out += filename_char(c) ? c : '-';
  return out;
}

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

// Serialises downloads of one cache entry between processes (several jobs starting
// at once on a cluster would otherwise write the same .part file).
class CacheLock {
 public:
  explicit CacheLock(const fs::path& path) : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    if (fd_ < 0) throw Error(fmt::format("{}: cannot create lock file: {}", path.string(), std::strerror(errno)));
    int rc;
    do rc = ::flock(fd_, LOCK_EX);
    while (rc != 0 && errno == EINTR);
    // Filesystems without flock support (some network mounts): carry on unlocked.
  }
  ~CacheLock() { ::close(fd_); }
  CacheLock(const CacheLock&) = delete;
  CacheLock& operator=(const CacheLock&) = delete;

 private:
  int fd_;
};

enum class CacheState { valid, absent, mismatch };

CacheState check_cached(const RemoteFile& file, const fs::path& target, bool warn) {
  std::error_code ec;
  const auto status = fs::status(target, ec);
  if (!fs::exists(status)) return CacheState::absent;
  if (!fs::is_regular_file(status)) throw Error(fmt::format("{}: exists but is not a regular file", target.string()));
  if (file.sha256.empty()) return CacheState::valid;  // nothing to verify against
  const std::string actual = sha256_file(target);
  if (actual == ascii_lower(file.sha256)) return CacheState::valid;
  if (warn)
    std::fprintf(stderr, "clipscope: warning: %s: SHA-256 does not match (expected %s, got %s); downloading it again\n",
                 target.c_str(), file.sha256.c_str(), actual.c_str());
  return CacheState::mismatch;
}

}  // namespace

std::string RemoteFile::filename() const {
  const std::string url_name = last_segment(url);
  std::string safe = replace_unsafe_chars(name.empty() ? url_name : name);
  if (safe.empty()) throw Error(fmt::format("remote file {}: no usable file name", url));
  if (safe.front() == '.') safe.front() = '_';  // never "..", never hidden
  const size_t dot = url_name.rfind('.');
  if (dot != std::string::npos && dot > 0) {
    const std::string extension = replace_unsafe_chars(url_name.substr(dot));
    if (!safe.ends_with(extension)) safe += extension;
  }
  return safe;
}

const std::vector<RemoteFile>& official_models() {
  static const std::vector<RemoteFile> models = [] {
    std::vector<RemoteFile> out;
    for (const auto& entry : kOfficialModels)
      out.push_back({std::string(entry.name), std::string(entry.url), second_to_last_segment(entry.url)});
    return out;
  }();
  return models;
}

std::vector<std::string> official_model_names() {
  std::vector<std::string> names;
  for (const auto& model : official_models()) names.push_back(model.name);
  return names;
}

std::optional<RemoteFile> find_official_model(std::string_view name) {
  if (name.empty()) return std::nullopt;
  const auto& models = official_models();
  auto matches = [&](const RemoteFile& model, auto&& same) {
    const std::string file = model.filename();
    return same(model.name, name) || same(file, name) || same(fs::path(file).stem().string(), name);
  };
  const auto exact = [](std::string_view a, std::string_view b) { return a == b; };
  const auto any_case = [](std::string_view a, std::string_view b) { return ascii_lower(a) == ascii_lower(b); };
  for (const auto& model : models)
    if (matches(model, exact)) return model;
  for (const auto& model : models)
    if (matches(model, any_case)) return model;
  return std::nullopt;
}

const RemoteFile& bpe_vocab_file() {
  // The vocabulary lives in the openai/CLIP repository itself (github.com/.../raw/ redirects
  // to raw.githubusercontent.com); its URL carries no hash, so the SHA-256 is pinned here.
  static const RemoteFile vocab{
      "bpe_simple_vocab_16e6.txt.gz",
      "https://github.com/openai/CLIP/raw/main/clip/bpe_simple_vocab_16e6.txt.gz",
      "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a",
  };
  return vocab;
}

std::optional<fs::path> installed_bpe_vocab() {
  std::vector<fs::path> package_dirs;
  std::error_code ec;
  // <prefix>/lib/python3.*/{site,dist}-packages
  auto add_prefix = [&](const fs::path& prefix) {
    for (const auto& entry : fs::directory_iterator(prefix / "lib", ec)) {
      if (!entry.path().filename().string().starts_with("python3")) continue;
      for (const char* leaf : {"site-packages", "dist-packages"}) package_dirs.push_back(entry.path() / leaf);
    }
  };
  if (const char* paths = std::getenv("PYTHONPATH"); paths && *paths) {
    std::string rest = paths;
    for (size_t colon; !rest.empty(); rest = colon == std::string::npos ? "" : rest.substr(colon + 1)) {
      colon = rest.find(':');
      if (colon != 0) package_dirs.emplace_back(rest.substr(0, colon));
    }
  }
  for (const char* var : {"VIRTUAL_ENV", "CONDA_PREFIX"})
    if (auto dir = env(var)) add_prefix(*dir);
  if (auto home = env("HOME")) add_prefix(fs::path(*home) / ".local");
  add_prefix("/usr/local");
  add_prefix("/usr");
  package_dirs.emplace_back("/usr/lib/python3/dist-packages");
  const RemoteFile& vocab = bpe_vocab_file();
  for (const auto& dir : package_dirs)
    for (const char* package : {"clip", "open_clip"}) {
      const fs::path candidate = dir / package / vocab.filename();
      if (!fs::is_regular_file(candidate, ec)) continue;
      try {
        if (sha256_file(candidate) == vocab.sha256) return candidate;
      } catch (const Error&) {
        // unreadable: look further
      }
    }
  return std::nullopt;
}

fs::path default_cache_dir() {
  if (auto dir = env("CLIPSCOPE_CACHE")) return fs::path(*dir);
  // The XDG spec says relative values are invalid and must be ignored.
  if (auto dir = env("XDG_CACHE_HOME"); dir && fs::path(*dir).is_absolute()) return fs::path(*dir) / "clipscope";
  if (auto home = env("HOME")) return fs::path(*home) / ".cache" / "clipscope";
  if (const passwd* user = ::getpwuid(::getuid()); user != nullptr && user->pw_dir != nullptr && *user->pw_dir)
    return fs::path(user->pw_dir) / ".cache" / "clipscope";
  throw Error("cache directory: HOME is not set; set CLIPSCOPE_CACHE");
}

std::string apply_mirror(const std::string& url) {
  const auto mirror = env("CLIPSCOPE_MIRROR");
  if (!mirror) return url;
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;  // not a URL we know how to rebase
  const size_t path_start = url.find('/', scheme_end + 3);
  const std::string path = path_start == std::string::npos ? "" : url.substr(path_start);

  std::string base = mirror->front() == '/' ? file_url(*mirror) : *mirror;  // a plain directory
  const size_t base_scheme_end = base.find("://");
  const size_t keep = base_scheme_end == std::string::npos ? 0 : base_scheme_end + 3;
  while (base.size() > keep && base.back() == '/') base.pop_back();  // "file:///" keeps its "//"
  return base + path;
}

fs::path ensure_cached(const RemoteFile& file, const fs::path& cache_dir, bool progress) {
  const fs::path target = cache_dir / file.filename();
  // Fast path without locking, so a read-only shared cache works.
  if (check_cached(file, target, /*warn=*/false) == CacheState::valid) return target;

  std::error_code ec;
  fs::create_directories(cache_dir, ec);
  if (ec) throw Error(fmt::format("{}: cannot create cache directory: {}", cache_dir.string(), ec.message()));
  fs::path lock_path = target;
  lock_path += ".lock";
  CacheLock lock(lock_path);
  // Another process may have fetched it while we waited for the lock.
  if (check_cached(file, target, /*warn=*/true) == CacheState::valid) return target;

  DownloadOptions options;
  options.progress = progress;
  download_file(apply_mirror(file.url), target, file.sha256, options);
  return target;
}

}  // namespace clipscope

namespace clipscope {

std::filesystem::path demo_model_path() {
  if (const char* env = std::getenv("CLIPSCOPE_DEMO_MODEL"); env && *env) return env;
  return std::filesystem::path(CLIPSCOPE_MODELS_DIR) / "demo" / "clipscope-demo.pt";
}

std::filesystem::path merges_beside(const std::filesystem::path& checkpoint) {
  return checkpoint.parent_path() / (checkpoint.stem().string() + ".bpe.txt.gz");
}

}  // namespace clipscope
