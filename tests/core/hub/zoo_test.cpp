#include "core/hub/zoo.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/hub/download.h"
#include "core/util/error.h"
#include "support/shared_data.h"

using namespace clipscope;
using clipscope::testing::error_message;
using clipscope::testing::read_file;
using clipscope::testing::write_file;
namespace fs = std::filesystem;

namespace {

// Sets or unsets an environment variable for one scope and restores it afterwards.
class EnvGuard {
 public:
  explicit EnvGuard(const char* name) : name_(name) {
    if (const char* value = std::getenv(name)) saved_ = value;
  }
  EnvGuard(const char* name, const std::string& value) : EnvGuard(name) { set(value); }
  ~EnvGuard() {
    if (saved_)
      ::setenv(name_, saved_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  void set(const std::string& value) { ::setenv(name_, value.c_str(), 1); }
  void unset() { ::unsetenv(name_); }

 private:
  const char* name_;
  std::optional<std::string> saved_;
};

// The part of an official URL after scheme://host, i.e. where a mirror holds it.
std::string url_path(const std::string& url) { return url.substr(url.find('/', url.find("://") + 3)); }

bool filesystem_safe(const std::string& name) {
  if (name.empty() || name.front() == '.') return false;
  for (char c : name) {
    const bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool is_lower_hex_sha256(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

fs::path part_of(const fs::path& path) {
  fs::path part = path;
  part += ".part";
  return part;
}

}  // namespace

TEST(OfficialModels, AreTheNineOpenAiCheckpoints) {
  const std::vector<std::string> expected = {"RN50",     "RN101",    "RN50x4",   "RN50x16",       "RN50x64",
                                             "ViT-B/32", "ViT-B/16", "ViT-L/14", "ViT-L/14@336px"};
  EXPECT_EQ(official_model_names(), expected);
  ASSERT_EQ(official_models().size(), 9u);
  for (const auto& model : official_models()) {
    SCOPED_TRACE(model.name);
    EXPECT_EQ(model.url.rfind("https://openaipublic.azureedge.net/clip/models/", 0), 0u);
    EXPECT_TRUE(is_lower_hex_sha256(model.sha256)) << model.sha256;
    // clip.py's _download checks the same segment.
    const std::string without_file = model.url.substr(0, model.url.rfind('/'));
    EXPECT_EQ(without_file.substr(without_file.rfind('/') + 1), model.sha256);
    // Our cache names agree with the names OpenAI publishes the files under.
    EXPECT_EQ(model.filename(), model.url.substr(model.url.rfind('/') + 1));
    EXPECT_TRUE(filesystem_safe(model.filename())) << model.filename();
  }
}

TEST(OfficialModels, DigestsMatchClipPy) {
  // Spot checks against openai/CLIP clip/clip.py, so a typo in the table is caught.
  EXPECT_EQ(find_official_model("RN50")->sha256, "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762");
  EXPECT_EQ(find_official_model("ViT-B/32")->sha256,
            "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af");
  EXPECT_EQ(find_official_model("ViT-L/14@336px")->sha256,
            "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02");
}

TEST(OfficialModels, FileNames) {
  EXPECT_EQ(find_official_model("RN50")->filename(), "RN50.pt");
  EXPECT_EQ(find_official_model("ViT-B/32")->filename(), "ViT-B-32.pt");
  EXPECT_EQ(find_official_model("ViT-L/14@336px")->filename(), "ViT-L-14-336px.pt");
  std::set<std::string> distinct;
  for (const auto& model : official_models()) distinct.insert(model.filename());
  EXPECT_EQ(distinct.size(), official_models().size());
}

TEST(FindOfficialModel, AcceptsOfficialAndFileNameForms) {
  ASSERT_TRUE(find_official_model("ViT-B/32"));
  EXPECT_EQ(find_official_model("ViT-B/32")->name, "ViT-B/32");
  EXPECT_EQ(find_official_model("ViT-B-32")->name, "ViT-B/32");
  EXPECT_EQ(find_official_model("ViT-B-32.pt")->name, "ViT-B/32");
  EXPECT_EQ(find_official_model("ViT-L-14-336px")->name, "ViT-L/14@336px");
  EXPECT_EQ(find_official_model("ViT-L/14")->name, "ViT-L/14");  // not the 336px one
  EXPECT_EQ(find_official_model("RN50x4")->name, "RN50x4");      // not RN50
  // Case is forgiven after exact forms are tried.
  EXPECT_EQ(find_official_model("vit-b/32")->name, "ViT-B/32");
  EXPECT_EQ(find_official_model("rn50x16")->name, "RN50x16");
  EXPECT_FALSE(find_official_model("ViT-B/99"));
  EXPECT_FALSE(find_official_model("RN5"));
  EXPECT_FALSE(find_official_model(""));
}

TEST(RemoteFileName, CustomNamesAreMadeSafe) {
  const RemoteFile evil{"../../etc/passwd", "https://example.com/x/passwd.bin", ""};
  EXPECT_TRUE(filesystem_safe(evil.filename())) << evil.filename();
  EXPECT_EQ(evil.filename().find('/'), std::string::npos);
  EXPECT_TRUE(evil.filename().ends_with(".bin")) << evil.filename();

  EXPECT_EQ((RemoteFile{"a b:c", "https://h/p/f.pt", ""}).filename(), "a-b-c.pt");
  EXPECT_EQ((RemoteFile{"vocab.txt.gz", "https://h/p/vocab.txt.gz?raw=1", ""}).filename(), "vocab.txt.gz");
  EXPECT_EQ((RemoteFile{"", "https://h/p/only-url.pt", ""}).filename(), "only-url.pt");
}

TEST(BpeVocab, DescribesOpenAisVocabulary) {
  const RemoteFile& vocab = bpe_vocab_file();
  EXPECT_EQ(vocab.name, "bpe_simple_vocab_16e6.txt.gz");
  EXPECT_EQ(vocab.filename(), "bpe_simple_vocab_16e6.txt.gz");
  EXPECT_EQ(vocab.url, "https://github.com/openai/CLIP/raw/main/clip/bpe_simple_vocab_16e6.txt.gz");
  EXPECT_EQ(vocab.sha256, "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a");
}

TEST(BpeVocab, DigestMatchesSharedCopy) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  EXPECT_EQ(sha256_file(shared / "clip" / "bpe_simple_vocab_16e6.txt.gz"), bpe_vocab_file().sha256);
}

TEST(DefaultCacheDir, HonoursEnvironmentInOrder) {
  EnvGuard cache("CLIPSCOPE_CACHE"), xdg("XDG_CACHE_HOME"), home("HOME");
  cache.set("/tmp/cs-cache");
  xdg.set("/tmp/xdg");
  home.set("/tmp/home");
  EXPECT_EQ(default_cache_dir(), fs::path("/tmp/cs-cache"));
  cache.set("");  // empty counts as unset
  EXPECT_EQ(default_cache_dir(), fs::path("/tmp/xdg/clipscope"));
  cache.unset();
  EXPECT_EQ(default_cache_dir(), fs::path("/tmp/xdg/clipscope"));
  xdg.set("relative/xdg");  // invalid per the XDG spec, ignored
  EXPECT_EQ(default_cache_dir(), fs::path("/tmp/home/.cache/clipscope"));
  xdg.unset();
  EXPECT_EQ(default_cache_dir(), fs::path("/tmp/home/.cache/clipscope"));
}

TEST(ApplyMirror, ReplacesSchemeAndHostKeepingThePath) {
  const std::string url = find_official_model("RN50")->url;
  const std::string path = url_path(url);
  EnvGuard mirror("CLIPSCOPE_MIRROR");
  mirror.unset();
  EXPECT_EQ(apply_mirror(url), url);
  mirror.set("");
  EXPECT_EQ(apply_mirror(url), url);
  mirror.set("file:///srv/clip");
  EXPECT_EQ(apply_mirror(url), "file:///srv/clip" + path);
  mirror.set("http://cache.local:8080/clip/");  // trailing slash is not doubled
  EXPECT_EQ(apply_mirror(url), "http://cache.local:8080/clip" + path);
  mirror.set("file:///");
  EXPECT_EQ(apply_mirror(url), "file://" + path);
  mirror.set("/srv/my mirror");  // a plain directory
  EXPECT_EQ(apply_mirror(url), "file:///srv/my%20mirror" + path);
  EXPECT_EQ(apply_mirror(bpe_vocab_file().url),
            "file:///srv/my%20mirror/openai/CLIP/raw/main/clip/bpe_simple_vocab_16e6.txt.gz");
}

TEST(EnsureCached, DownloadsThroughMirrorThenUsesTheCache) {
  const fs::path mirror_dir = clipscope::testing::temp_dir("clipscope-mirror");
  const fs::path cache_dir = clipscope::testing::temp_dir("clipscope-cache") / "sub";  // created on demand
  write_file(mirror_dir / "files" / "weights.bin", "weights v1");
  const RemoteFile file{"weights", "https://example.invalid/files/weights.bin",
                        sha256_file(mirror_dir / "files" / "weights.bin")};
  EnvGuard mirror("CLIPSCOPE_MIRROR", file_url(mirror_dir));

  const fs::path first = ensure_cached(file, cache_dir, /*progress=*/false);
  EXPECT_EQ(first, cache_dir / "weights.bin");
  EXPECT_EQ(read_file(first), "weights v1");

  fs::remove(mirror_dir / "files" / "weights.bin");  // a second call must not need the source
  EXPECT_EQ(ensure_cached(file, cache_dir, false), first);
  EXPECT_EQ(read_file(first), "weights v1");
}

TEST(EnsureCached, BpeVocabThroughMirrorAndRepairsCorruptCache) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  const fs::path source = shared / "clip" / "bpe_simple_vocab_16e6.txt.gz";
  const fs::path mirror_dir = clipscope::testing::temp_dir("clipscope-mirror");
  const fs::path cache_dir = clipscope::testing::temp_dir("clipscope-cache");
  const fs::path mirrored = mirror_dir / "openai/CLIP/raw/main/clip/bpe_simple_vocab_16e6.txt.gz";
  fs::create_directories(mirrored.parent_path());
  fs::copy_file(source, mirrored);
  EnvGuard mirror("CLIPSCOPE_MIRROR", file_url(mirror_dir));

  const fs::path cached = ensure_cached(bpe_vocab_file(), cache_dir, false);
  EXPECT_EQ(cached, cache_dir / "bpe_simple_vocab_16e6.txt.gz");
  EXPECT_EQ(sha256_file(cached), bpe_vocab_file().sha256);

  fs::remove(mirrored);  // cache hit: no download needed
  EXPECT_EQ(ensure_cached(bpe_vocab_file(), cache_dir, false), cached);

  // A corrupt cached copy with no source to repair it from is an error, not a silent success.
  write_file(cached, "corrupted");
  ::testing::internal::CaptureStderr();
  EXPECT_THROW(ensure_cached(bpe_vocab_file(), cache_dir, false), Error);
  ::testing::internal::GetCapturedStderr();

  // With the source back, the corrupt copy is replaced, with a warning.
  fs::copy_file(source, mirrored);
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(ensure_cached(bpe_vocab_file(), cache_dir, false), cached);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("does not match"), std::string::npos) << err;
  EXPECT_EQ(sha256_file(cached), bpe_vocab_file().sha256);
  EXPECT_EQ(read_file(cached), read_file(source));
  EXPECT_FALSE(fs::exists(part_of(cached)));
}

TEST(EnsureCached, FakeCheckpointFailsChecksumAndLeavesNothing) {
  const RemoteFile rn50 = *find_official_model("RN50");
  const fs::path mirror_dir = clipscope::testing::temp_dir("clipscope-mirror");
  const fs::path cache_dir = clipscope::testing::temp_dir("clipscope-cache");
  write_file(mirror_dir / url_path(rn50.url).substr(1), "not a checkpoint");
  EnvGuard mirror("CLIPSCOPE_MIRROR", file_url(mirror_dir));

  const std::string message = error_message([&] { ensure_cached(rn50, cache_dir, false); });
  EXPECT_NE(message.find("checksum mismatch"), std::string::npos) << message;
  EXPECT_NE(message.find("RN50.pt"), std::string::npos) << message;
  EXPECT_NE(message.find(rn50.sha256), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(cache_dir / "RN50.pt"));
  EXPECT_FALSE(fs::exists(cache_dir / "RN50.pt.part"));
}

TEST(EnsureCached, MissingMirrorFileNamesTheMirroredUrl) {
  const RemoteFile model = *find_official_model("ViT-B/32");
  const fs::path mirror_dir = clipscope::testing::temp_dir("clipscope-mirror");
  const fs::path cache_dir = clipscope::testing::temp_dir("clipscope-cache");
  EnvGuard mirror("CLIPSCOPE_MIRROR", file_url(mirror_dir));
  const std::string message = error_message([&] { ensure_cached(model, cache_dir, false); });
  EXPECT_NE(message.find(apply_mirror(model.url)), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(cache_dir / "ViT-B-32.pt"));
  EXPECT_FALSE(fs::exists(cache_dir / "ViT-B-32.pt.part"));
}

TEST(EnsureCached, RejectsADirectoryInTheWay) {
  const fs::path cache_dir = clipscope::testing::temp_dir("clipscope-cache");
  fs::create_directories(cache_dir / "RN50.pt");
  EnvGuard mirror("CLIPSCOPE_MIRROR", file_url(clipscope::testing::temp_dir("clipscope-mirror")));  // never the network
  const std::string message = error_message([&] { ensure_cached(*find_official_model("RN50"), cache_dir, false); });
  EXPECT_NE(message.find("not a regular file"), std::string::npos) << message;
}
