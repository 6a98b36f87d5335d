#include "core/hub/download.h"

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <random>
#include <string>

#include "core/util/error.h"
#include "support/shared_data.h"

using namespace clipscope;
using clipscope::testing::error_message;
using clipscope::testing::read_file;
using clipscope::testing::write_file;
namespace fs = std::filesystem;

namespace {

// Several MiB so that curl delivers it in many chunks.
std::string random_bytes(size_t size, unsigned seed = 7) {
  std::mt19937 rng(seed);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(rng() & 0xff);
  return bytes;
}

fs::path part_of(const fs::path& dest) {
  fs::path part = dest;
  part += ".part";
  return part;
}

DownloadOptions quiet_options() {
  DownloadOptions options;
  options.progress = false;
  options.attempts = 2;
  options.backoff_seconds = 0;
  return options;
}

constexpr char kAbcSha[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr char kEmptySha[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

}  // namespace

TEST(Sha256File, MatchesKnownDigests) {
  auto dir = clipscope::testing::temp_dir();
  write_file(dir / "abc", "abc");
  write_file(dir / "empty", "");
  EXPECT_EQ(sha256_file(dir / "abc"), kAbcSha);
  EXPECT_EQ(sha256_file(dir / "empty"), kEmptySha);
}

TEST(Sha256File, MissingFileIsAnError) {
  auto dir = clipscope::testing::temp_dir();
  const std::string message = error_message([&] { sha256_file(dir / "nope"); });
  EXPECT_NE(message.find("nope"), std::string::npos) << message;
}

TEST(FileUrl, PercentEncodesAndIsAbsolute) {
  EXPECT_EQ(file_url("/a b/c%d/e.txt"), "file:///a%20b/c%25d/e.txt");
  EXPECT_EQ(file_url("/x/./y/../z"), "file:///x/z");
  EXPECT_EQ(file_url("rel").rfind("file:///", 0), 0u);
}

TEST(DownloadFile, CopiesFileUrlAndVerifiesChecksum) {
  auto dir = clipscope::testing::temp_dir();
  const std::string bytes = random_bytes(3 * 1024 * 1024 + 17);
  write_file(dir / "src" / "data.bin", bytes);
  const std::string sha = sha256_file(dir / "src" / "data.bin");
  const fs::path dest = dir / "nested" / "deeper" / "out.bin";  // parents do not exist yet

  download_file(file_url(dir / "src" / "data.bin"), dest, sha, quiet_options());

  ASSERT_TRUE(fs::is_regular_file(dest));
  EXPECT_EQ(read_file(dest), bytes);
  EXPECT_EQ(sha256_file(dest), sha);
  EXPECT_FALSE(fs::exists(part_of(dest)));
}

TEST(DownloadFile, AcceptsUppercaseExpectedDigestAndEmptyFiles) {
  auto dir = clipscope::testing::temp_dir();
  write_file(dir / "empty", "");
  std::string upper = kEmptySha;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  download_file(file_url(dir / "empty"), dir / "copy", upper, quiet_options());
  ASSERT_TRUE(fs::is_regular_file(dir / "copy"));
  EXPECT_EQ(fs::file_size(dir / "copy"), 0u);
}

TEST(DownloadFile, WithoutExpectedDigestStillCopies) {
  auto dir = clipscope::testing::temp_dir();
  write_file(dir / "src", "hello");
  download_file(file_url(dir / "src"), dir / "dest", "", quiet_options());
  EXPECT_EQ(read_file(dir / "dest"), "hello");
}

TEST(DownloadFile, ChecksumMismatchLeavesNoFileBehind) {
  auto dir = clipscope::testing::temp_dir();
  write_file(dir / "src.bin", "abc");
  const fs::path dest = dir / "out" / "model.pt";
  const std::string url = file_url(dir / "src.bin");
  const std::string wrong(64, '0');

  const std::string message = error_message([&] { download_file(url, dest, wrong, quiet_options()); });

  EXPECT_NE(message.find("checksum mismatch"), std::string::npos) << message;
  EXPECT_NE(message.find("model.pt"), std::string::npos) << message;
  EXPECT_NE(message.find(wrong), std::string::npos) << message;
  EXPECT_NE(message.find(kAbcSha), std::string::npos) << message;
  EXPECT_NE(message.find(url), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << "one line";
  EXPECT_FALSE(fs::exists(dest));
  EXPECT_FALSE(fs::exists(part_of(dest)));
}

TEST(DownloadFile, ChecksumMismatchKeepsTheExistingDestination) {
  auto dir = clipscope::testing::temp_dir();
  write_file(dir / "src", "new bytes");
  write_file(dir / "dest", "old bytes");
  EXPECT_THROW(download_file(file_url(dir / "src"), dir / "dest", std::string(64, 'a'), quiet_options()), Error);
  EXPECT_EQ(read_file(dir / "dest"), "old bytes");
  EXPECT_FALSE(fs::exists(part_of(dir / "dest")));
}

TEST(DownloadFile, ReplacesStalePartFileAndExistingDestination) {
  auto dir = clipscope::testing::temp_dir();
  write_file(dir / "src", "fresh");
  write_file(dir / "dest", "stale");
  write_file(part_of(dir / "dest"), "left over from a crash, and longer than the new file");
  download_file(file_url(dir / "src"), dir / "dest", "", quiet_options());
  EXPECT_EQ(read_file(dir / "dest"), "fresh");
  EXPECT_FALSE(fs::exists(part_of(dir / "dest")));
}

TEST(DownloadFile, MissingSourceFailsAtOnceWithoutRetrying) {
  auto dir = clipscope::testing::temp_dir();
  const std::string url = file_url(dir / "does-not-exist.pt");
  DownloadOptions options;
  options.progress = false;
  options.attempts = 2;
  options.backoff_seconds = 3;  // a single retry would take 3 s

  const auto start = std::chrono::steady_clock::now();
  const std::string message = error_message([&] { download_file(url, dir / "out.pt", "", options); });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  EXPECT_LT(seconds, 2.5) << "a missing file is permanent and must not be retried";
  EXPECT_NE(message.find(url), std::string::npos) << message;
  EXPECT_EQ(message.find("gave up"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir / "out.pt"));
  EXPECT_FALSE(fs::exists(part_of(dir / "out.pt")));
}

TEST(DownloadFile, UnsupportedSchemeIsPermanent) {
  auto dir = clipscope::testing::temp_dir();
  DownloadOptions options = quiet_options();
  options.backoff_seconds = 3;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(download_file("gopher://localhost/x", dir / "x", "", options), Error);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 2.5);
  EXPECT_FALSE(fs::exists(dir / "x"));
  EXPECT_FALSE(fs::exists(part_of(dir / "x")));
}

TEST(DownloadFile, RejectsMalformedExpectedDigest) {
  auto dir = clipscope::testing::temp_dir();
  write_file(dir / "src", "abc");
  const std::string message =
      error_message([&] { download_file(file_url(dir / "src"), dir / "dest", "not-a-sha", quiet_options()); });
  EXPECT_NE(message.find("not-a-sha"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir / "dest"));
}

TEST(DownloadFile, ShowsProgressWithTotalOnStderr) {
  auto dir = clipscope::testing::temp_dir();
  write_file(dir / "src", random_bytes(200000));
  DownloadOptions options = quiet_options();
  options.progress = true;
  ::testing::internal::CaptureStderr();
  download_file(file_url(dir / "src"), dir / "shown.bin", "", options);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("shown.bin"), std::string::npos) << err;
  EXPECT_NE(err.find("KiB"), std::string::npos) << err;
  // 100% appears only when the size (Content-Length) was known.
  EXPECT_NE(err.find("100%"), std::string::npos) << err;

  options.progress = false;
  ::testing::internal::CaptureStderr();
  download_file(file_url(dir / "src"), dir / "hidden.bin", "", options);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST(DownloadFile, SourceWithSpacesInItsPath) {
  auto dir = clipscope::testing::temp_dir();
  write_file(dir / "a folder" / "50% done.txt", "spaces");
  download_file(file_url(dir / "a folder" / "50% done.txt"), dir / "copy.txt", "", quiet_options());
  EXPECT_EQ(read_file(dir / "copy.txt"), "spaces");
}

TEST(DownloadFile, ClassifiesTransientFailures) {
  // CURLcode values are part of libcurl's stable ABI.
  constexpr int kCouldntResolveHost = 6, kCouldntConnect = 7, kPartialFile = 18, kHttpReturnedError = 22,
                kTimedOut = 28, kFileCouldntRead = 37, kRemoteFileNotFound = 78, kUnsupportedProtocol = 1;
  using detail::is_transient_failure;
  EXPECT_TRUE(is_transient_failure(kCouldntResolveHost, 0));
  EXPECT_TRUE(is_transient_failure(kCouldntConnect, 0));
  EXPECT_TRUE(is_transient_failure(kPartialFile, 200));
  EXPECT_TRUE(is_transient_failure(kTimedOut, 0));
  EXPECT_TRUE(is_transient_failure(kHttpReturnedError, 500));
  EXPECT_TRUE(is_transient_failure(kHttpReturnedError, 503));
  EXPECT_TRUE(is_transient_failure(kHttpReturnedError, 429));
  EXPECT_FALSE(is_transient_failure(kHttpReturnedError, 404));
  EXPECT_FALSE(is_transient_failure(kHttpReturnedError, 403));
  EXPECT_FALSE(is_transient_failure(kFileCouldntRead, 0));
  EXPECT_FALSE(is_transient_failure(kRemoteFileNotFound, 0));
  EXPECT_FALSE(is_transient_failure(kUnsupportedProtocol, 0));
}
