#include "core/hub/download.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/progress.h"

namespace clipscope {
namespace {

namespace fs = std::filesystem;

// curl_global_init is not thread-safe; a function-local static runs it exactly once.
void init_curl_once() {
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK) throw Error(fmt::format("libcurl: initialisation failed: {}", curl_easy_strerror(rc)));
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

struct CurlCleanup {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using CurlPtr = std::unique_ptr<CURL, CurlCleanup>;

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
      throw Error("OpenSSL: cannot initialise SHA-256");
  }
  void update(const void* data, size_t size) {
    if (EVP_DigestUpdate(ctx_.get(), data, size) != 1) throw Error("OpenSSL: SHA-256 update failed");
  }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), digest, &size) != 1) throw Error("OpenSSL: SHA-256 finalisation failed");
    std::string out;
    out.reserve(2 * size);
    for (unsigned int i = 0; i < size; ++i) out += fmt::format("{:02x}", digest[i]);
    return out;
  }

 private:
  struct Free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

// Removes "<dest>.part" on every exit path except a successful rename.
class PartFileGuard {
 public:
  explicit PartFileGuard(fs::path path) : path_(std::move(path)) {}
  ~PartFileGuard() {
    if (armed_) {
      std::error_code ignored;
      fs::remove(path_, ignored);
    }
  }
  void release() { armed_ = false; }

 private:
  fs::path path_;
  bool armed_ = true;
};

// Error messages are one line; curl's buffers occasionally end in a newline.
std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  std::replace(text.begin(), text.end(), '\r', ' ');
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

std::string normalised_sha256(const std::string& sha, const fs::path& dest) {
  std::string lower;
  for (char c : sha) lower += (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c;
  const bool valid =
      lower.empty() || (lower.size() == 64 && lower.find_first_not_of("0123456789abcdef") == std::string::npos);
  if (!valid) throw Error(fmt::format("{}: invalid expected SHA-256 \"{}\"", dest.string(), sha));
  return lower;
}

// State shared with the libcurl write callback, which must not throw through C.
struct Transfer {
  CURL* curl;
  std::FILE* out;
  Sha256* hash;
  std::string label;
  bool show_progress;
  // Created with the first bytes, when Content-Length is known and so that
  // attempts that fail before any data arrives print no empty bar.
  std::optional<Progress> progress{};
  int write_errno = 0;
  std::exception_ptr error{};
};

size_t write_chunk(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  try {
    if (!t.progress) {
      curl_off_t length = -1;  // unknown (-1) for chunked HTTP responses
      if (curl_easy_getinfo(t.curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) != CURLE_OK) length = -1;
      t.progress.emplace(t.label, std::max<int64_t>(length, 0), "B", t.show_progress);
    }
    if (std::fwrite(data, 1, bytes, t.out) != bytes) {
      t.write_errno = errno;
      return 0;  // makes curl stop with CURLE_WRITE_ERROR
    }
    t.hash->update(data, bytes);
    t.progress->add(static_cast<int64_t>(bytes));
    return bytes;
  } catch (...) {
    t.error = std::current_exception();
    return 0;
  }
}

struct AttemptResult {
  bool ok = false;
  bool transient = false;
  std::string problem;  // why it failed
  std::string sha256;   // of the bytes written, when ok
};

void set_protocols(CURL* curl) {
  // Only the schemes we document; redirects may never lead to file:// or others.
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https,file");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS | CURLPROTO_FILE);
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
}

AttemptResult attempt_download(const std::string& url, const fs::path& part, const fs::path& dest, bool show_progress) {
  FilePtr out(std::fopen(part.c_str(), "wb"));  // truncates what an earlier attempt left
  if (!out) throw Error(fmt::format("{}: cannot write: {}", part.string(), std::strerror(errno)));
  Sha256 hash;
  CurlPtr curl(curl_easy_init());
  if (!curl) throw Error(fmt::format("{}: cannot create a libcurl handle", url));

  char error_buffer[CURL_ERROR_SIZE] = "";
  Transfer transfer{.curl = curl.get(),
                    .out = out.get(),
                    .hash = &hash,
                    .label = dest.filename().string(),
                    .show_progress = show_progress};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  set_protocols(c);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);  // HTTP >= 400 is an error, not a body to save
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);     // no SIGALRM games in threaded callers
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  // A stalled connection (< 1 KiB/s for a minute) is treated as a transient timeout.
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "clipscope");
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_chunk);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);

  const CURLcode rc = curl_easy_perform(c);
  if (transfer.error) std::rethrow_exception(transfer.error);
  if (rc == CURLE_WRITE_ERROR && transfer.write_errno != 0)  // disk full etc.: retrying will not help
    throw Error(fmt::format("{}: cannot write: {}", part.string(), std::strerror(transfer.write_errno)));

  if (rc != CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    std::string problem = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
    return {false, detail::is_transient_failure(rc, status), one_line(std::move(problem)), ""};
  }
  // Flush to disk before the rename so a crash cannot leave a short file under the final name.
  if (std::fflush(out.get()) != 0 || ::fsync(::fileno(out.get())) != 0)
    throw Error(fmt::format("{}: cannot write: {}", part.string(), std::strerror(errno)));
  if (std::fclose(out.release()) != 0)
    throw Error(fmt::format("{}: cannot write: {}", part.string(), std::strerror(errno)));
  if (transfer.progress) transfer.progress->finish();
  return {true, false, "", hash.hex()};
}

}  // namespace

namespace detail {

bool is_transient_failure(int curl_code, long http_status) {
  switch (static_cast<CURLcode>(curl_code)) {
    case CURLE_HTTP_RETURNED_ERROR:
      // Server trouble and rate limits pass; 404, 403 and friends do not.
      return http_status >= 500 || http_status == 408 || http_status == 429;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_AGAIN:
      return true;
    default:
      return false;
  }
}

}  // namespace detail

void download_file(const std::string& url, const fs::path& dest, const std::string& expected_sha256,
                   const DownloadOptions& options) {
  init_curl_once();
  if (dest.empty() || !dest.has_filename()) throw Error(fmt::format("{}: no destination file given", url));
  const std::string expected = normalised_sha256(expected_sha256, dest);

  if (dest.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(dest.parent_path(), ec);
    if (ec) throw Error(fmt::format("{}: cannot create directory: {}", dest.parent_path().string(), ec.message()));
  }
  const fs::path part = partial_path(dest);
  PartFileGuard guard(part);

  const int attempts = std::max(1, options.attempts);
  for (int attempt = 1;; ++attempt) {
    const AttemptResult result = attempt_download(url, part, dest, options.progress);
    if (result.ok) {
      // A wrong checksum is a wrong file (or a bad mirror); downloading it again would not help.
      if (!expected.empty() && result.sha256 != expected)
        throw Error(fmt::format("{}: checksum mismatch (expected {}, got {}) for {}", dest.filename().string(),
                                expected, result.sha256, url));
      commit_partial(part, dest);
      guard.release();
      return;
    }
    if (!result.transient) throw Error(fmt::format("{}: {}", url, result.problem));
    if (attempt >= attempts) {
      throw Error(attempts > 1 ? fmt::format("{}: {} (gave up after {} attempts)", url, result.problem, attempts)
                               : fmt::format("{}: {}", url, result.problem));
    }
    const double delay = std::max(0.0, options.backoff_seconds) * std::pow(2.0, attempt - 1);
    std::fprintf(stderr, "clipscope: warning: %s: %s; retrying in %.1f s (attempt %d of %d)\n", url.c_str(),
                 result.problem.c_str(), delay, attempt + 1, attempts);
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));
  }
}

std::string sha256_file(const fs::path& path) {
  FilePtr in(std::fopen(path.c_str(), "rb"));
  if (!in) throw Error(fmt::format("{}: cannot open: {}", path.string(), std::strerror(errno)));
  Sha256 hash;
  std::vector<char> buffer(1 << 20);
  size_t got = 0;
  while ((got = std::fread(buffer.data(), 1, buffer.size(), in.get())) > 0) hash.update(buffer.data(), got);
  if (std::ferror(in.get())) throw Error(fmt::format("{}: cannot read: {}", path.string(), std::strerror(errno)));
  return hash.hex();
}

std::string sha256_text(std::string_view text) {
  Sha256 hash;
  hash.update(text.data(), text.size());
  return hash.hex();
}

std::string file_url(const fs::path& path) {
  const std::string absolute = fs::absolute(path).lexically_normal().generic_string();
  std::string url = "file://";
  for (unsigned char c : absolute) {
    const bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                       c == '.' || c == '_' || c == '~' || c == '/';
    url += plain ? std::string(1, static_cast<char>(c)) : fmt::format("%{:02X}", c);
  }
  return url;
}

}  // namespace clipscope
