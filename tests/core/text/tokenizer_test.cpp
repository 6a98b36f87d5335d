// CLIP tokenizer: exact parity with clip.tokenize on the reference fixtures,
// Python html.unescape details, CLIP's cleaning and split rules, decoding, and
// merges files of other vocabulary sizes.
#include "core/text/tokenizer.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/util/error.h"
#include "core/util/npy.h"
#include "support/shared_data.h"

namespace clipscope {
namespace {

namespace fs = std::filesystem;
using clipscope::testing::error_message;
using clipscope::testing::write_file;

fs::path clip_merges(const fs::path& shared) { return shared / "clip" / "bpe_simple_vocab_16e6.txt.gz"; }

void write_gzip(const fs::path& path, const std::string& content) {
  gzFile file = gzopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr);
  ASSERT_EQ(gzwrite(file, content.data(), static_cast<unsigned>(content.size())), static_cast<int>(content.size()));
  ASSERT_EQ(gzclose(file), Z_OK);
}

// One tokenizer over CLIP's merges for all tests that need it (loading takes a moment).
class ClipTokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (auto shared = testing::shared_dir()) tokenizer_ = new Tokenizer(clip_merges(*shared));
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    tokenizer_ = nullptr;
  }
  void SetUp() override {
    if (tokenizer_ == nullptr) {
      GTEST_SKIP() << "../shared not found (set CLIPSCOPE_SHARED): CLIP's merges file absent";
    }
  }
  const Tokenizer& tok() const { return *tokenizer_; }

  static Tokenizer* tokenizer_;
};
Tokenizer* ClipTokenizerTest::tokenizer_ = nullptr;

// ---- html_unescape --------------------------------------------------------------

TEST(HtmlUnescape, NamedReferences) {
  EXPECT_EQ(html_unescape("AT&amp;T"), "AT&T");
  EXPECT_EQ(html_unescape("&lt;tag&gt;"), "<tag>");
  EXPECT_EQ(html_unescape("&quot;hi&quot;"), "\"hi\"");
  EXPECT_EQ(html_unescape("caf&eacute;"), "caf\u00e9");
  EXPECT_EQ(html_unescape("&hellip;&euro;&alpha;&Omega;"), "\u2026\u20ac\u03b1\u03a9");
  EXPECT_EQ(html_unescape("&AMP;&LT;&COPY;&REG"), "&<\u00a9\u00ae");
  // HTML5 (and so Python) maps these to the mathematical angle brackets.
  EXPECT_EQ(html_unescape("&lang;&rang;"), "\u27e8\u27e9");
}

TEST(HtmlUnescape, LegacyNamesWithoutSemicolon) {
  EXPECT_EQ(html_unescape("&eacute"), "\u00e9");
  EXPECT_EQ(html_unescape("&amp &lt &copy 2024"), "& < \u00a9 2024");
  // Longest legacy prefix wins; the rest of the name is kept.
  EXPECT_EQ(html_unescape("&notit;"), "\u00acit;");
  EXPECT_EQ(html_unescape("&ampere"), "&ere");
  EXPECT_EQ(html_unescape("&copyright"), "\u00a9right");
  // Names that need ';' are left alone without it.
  EXPECT_EQ(html_unescape("&hellip"), "&hellip");
  EXPECT_EQ(html_unescape("&alpha and"), "&alpha and");
}

TEST(HtmlUnescape, NumericReferences) {
  EXPECT_EQ(html_unescape("it&#39;s"), "it's");
  EXPECT_EQ(html_unescape("it&#x27;s"), "it's");
  EXPECT_EQ(html_unescape("&#X41;&#65&#0066;"), "AAB");
  EXPECT_EQ(html_unescape("&#128512;"), "\U0001F600");
  // windows-1252 reading of 0x80-0x9F, with undefined bytes kept as C1 controls.
  EXPECT_EQ(html_unescape("&#128;&#x99;&#159;"), "\u20ac\u2122\u0178");
  EXPECT_EQ(html_unescape("&#x81;"), "\u0081");
  // Invalid code points become U+FFFD; controls and noncharacters vanish.
  EXPECT_EQ(html_unescape("&#0;|&#xD800;|&#x110000;|&#99999999999999999999;"), "\ufffd|\ufffd|\ufffd|\ufffd");
  EXPECT_EQ(html_unescape("a&#1;b&#x7f;c&#xFFFE;d&#xFDD0;e&#x10FFFF;f"), "abcdef");
  EXPECT_EQ(html_unescape("&#13;&#9;"), "\r\t");
}

TEST(HtmlUnescape, NotReferences) {
  EXPECT_EQ(html_unescape("no entities"), "no entities");
  EXPECT_EQ(html_unescape("a & b && c &; &# &#x; &#xg;"), "a & b && c &; &# &#x; &#xg;");
  EXPECT_EQ(html_unescape("&unknown;"), "&unknown;");
  EXPECT_EQ(html_unescape("caf\u00e9 &\u00e9;"), "caf\u00e9 &\u00e9;");
  // A name is at most 32 characters, so ';' after 33 is not part of it.
  EXPECT_EQ(html_unescape("&" + std::string(33, 'a') + ";"), "&" + std::string(33, 'a') + ";");
}

TEST(HtmlUnescape, TwoPassesAsClipDoes) {
  EXPECT_EQ(html_unescape("&amp;amp;"), "&amp;");
  EXPECT_EQ(html_unescape(html_unescape("&amp;amp;")), "&");
  EXPECT_EQ(html_unescape(html_unescape("&amp;lt;b&amp;gt;")), "<b>");
}

// ---- CLIP's merges: parity with clip.tokenize ---------------------------------------

TEST_F(ClipTokenizerTest, MatchesReferenceFixtures) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  std::ifstream manifest_file(shared / "fixtures" / "manifest.json");
  ASSERT_TRUE(manifest_file) << "cannot read fixtures/manifest.json";
  const nlohmann::json manifest = nlohmann::json::parse(manifest_file);
  const auto texts = manifest.at("texts").get<std::vector<std::string>>();
  ASSERT_EQ(texts.size(), 21u);

  const NpyArray expected = read_npy(shared / "fixtures" / "tokens.npy");
  ASSERT_EQ(expected.shape, (std::vector<int64_t>{21, 77}));
  const std::vector<int64_t> expected_ids = expected.as_int64();

  for (size_t row = 0; row < texts.size(); ++row) {
    const std::vector<int32_t> got = tok().tokenize(texts[row], 77, /*truncate=*/true);
    const std::vector<int32_t> want(expected_ids.begin() + static_cast<std::ptrdiff_t>(row * 77),
                                    expected_ids.begin() + static_cast<std::ptrdiff_t>((row + 1) * 77));
    EXPECT_EQ(got, want) << "text " << row << ": \"" << texts[row] << "\"";
  }
}

TEST_F(ClipTokenizerTest, EncodeMatchesTokensJson) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  std::ifstream file(shared / "fixtures" / "tokens.json");
  ASSERT_TRUE(file) << "cannot read fixtures/tokens.json";
  const nlohmann::json tokens = nlohmann::json::parse(file);
  ASSERT_EQ(tokens.size(), 21u);
  for (const auto& [text, ids_json] : tokens.items()) {
    const auto want = ids_json.get<std::vector<int32_t>>();
    std::vector<int32_t> got = tok().encode(text);
    // tokens.json holds [sot, ids..., eot], cut to 77 like clip.tokenize(truncate=True).
    got.insert(got.begin(), tok().sot());
    got.push_back(tok().eot());
    if (got.size() > 77) {
      got.resize(77);
      got.back() = tok().eot();
    }
    EXPECT_EQ(got, want) << "\"" << text << "\"";
  }
}

TEST_F(ClipTokenizerTest, VocabularyLayout) {
  EXPECT_EQ(tok().vocab_size(), 49408);
  EXPECT_EQ(tok().sot(), 49406);
  EXPECT_EQ(tok().eot(), 49407);
  EXPECT_EQ(tok().token_string(0), "!");
  EXPECT_EQ(tok().token_string(256), "!</w>");
  EXPECT_EQ(tok().token_string(1929), "dog</w>");
  EXPECT_EQ(tok().token_string(49406), "<|startoftext|>");
  // The space byte's stand-in is U+0120.
  EXPECT_EQ(tok().token_string(220), "\u0120");
  EXPECT_THROW(tok().token_string(49408), Error);
  EXPECT_THROW(tok().token_string(-1), Error);
}

TEST_F(ClipTokenizerTest, CleaningAndSplitting) {
  // Expected ids are those of openai/CLIP's SimpleTokenizer.encode (ftfy stubbed).
  EXPECT_EQ(tok().encode("a dog"), (std::vector<int32_t>{320, 1929}));
  EXPECT_EQ(tok().encode("  A   DOG\n"), (std::vector<int32_t>{320, 1929}));
  EXPECT_EQ(tok().encode("A&amp;amp;DOG"), tok().encode("a&dog"));
  EXPECT_TRUE(tok().encode("").empty());
  EXPECT_TRUE(tok().encode(" \t\n ").empty());
  // Special tokens written in the text are recognised (after lowercasing).
  EXPECT_EQ(tok().encode("<|endoftext|>"), (std::vector<int32_t>{49407}));
  EXPECT_EQ(tok().encode("x<|StartOfText|>"), (std::vector<int32_t>{343, 49406}));
  // U+001C..U+001F: stripped at the ends (str.strip) but kept inside, where
  // whitespace_clean's \s does not match them.
  EXPECT_EQ(tok().encode("a\x1c"
                         "b"),
            (std::vector<int32_t>{320, 472, 321}));
  EXPECT_EQ(tok().encode(" \x1c a \x1c\x1c b \x1f"), (std::vector<int32_t>{320, 216, 472, 321}));
  // Non-breaking and ideographic spaces are whitespace.
  EXPECT_EQ(tok().encode("a\u00a0dog\u3000"), (std::vector<int32_t>{320, 1929}));
  // Digits are single pieces; contractions split off.
  EXPECT_EQ(tok().encode("2024"), (std::vector<int32_t>{273, 271, 273, 275}));
  EXPECT_EQ(tok().encode("don't"), (std::vector<int32_t>{847, 713}));
}

TEST_F(ClipTokenizerTest, UnicodeRulesMatchPython) {
  // str.lower(): final sigma, and U+0130 -> "i" + U+0307 (a mark, split off).
  EXPECT_EQ(tok().encode("\u03a3\u039f\u03a6\u039f\u03a3"), tok().encode("\u03c3\u03bf\u03c6\u03bf\u03c2"));
  EXPECT_EQ(tok().encode("\u0130"), (std::vector<int32_t>{328, 16384}));
  // IGNORECASE uses simple case folding: "'\u017f" (long s) is the 's piece.
  EXPECT_EQ(tok().encode("it'\u017f"), (std::vector<int32_t>{585, 6, 129, 379}));
  // U+0345 matches none of the pattern's classes under IGNORECASE and is dropped.
  EXPECT_EQ(tok().encode("a\u0345b"), (std::vector<int32_t>{320, 321}));
}

TEST_F(ClipTokenizerTest, TokenizePadsAndTruncates) {
  EXPECT_EQ(tok().tokenize("a dog", 6), (std::vector<int32_t>{49406, 320, 1929, 49407, 0, 0}));
  EXPECT_EQ(tok().tokenize("a dog", 4), (std::vector<int32_t>{49406, 320, 1929, 49407}));
  EXPECT_THROW(tok().tokenize("a dog", 3), Error);
  EXPECT_EQ(tok().tokenize("a dog", 3, true), (std::vector<int32_t>{49406, 320, 49407}));
  EXPECT_EQ(tok().tokenize("a dog", 1, true), (std::vector<int32_t>{49407}));
  EXPECT_THROW(tok().tokenize("a dog", 0, true), Error);
  EXPECT_EQ(tok().tokenize("").size(), 77u);
}

TEST_F(ClipTokenizerTest, LongTextWithoutTruncateThrows) {
  std::string text;
  for (int i = 0; i < 200; ++i) text += i == 0 ? "word" : " word";
  const std::string message = error_message([&] { tok().tokenize(text); });
  ASSERT_FALSE(message.empty()) << "tokenize did not throw Error";
  EXPECT_NE(message.find("word word"), std::string::npos) << message;
  EXPECT_NE(message.find("202"), std::string::npos) << message;
  EXPECT_NE(message.find("77"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_LT(message.size(), 200u) << "the text should be shortened: " << message;

  const auto truncated = tok().tokenize(text, 77, true);
  ASSERT_EQ(truncated.size(), 77u);
  EXPECT_EQ(truncated.front(), 49406);
  EXPECT_EQ(truncated[75], 2653);
  EXPECT_EQ(truncated.back(), 49407);
}

TEST_F(ClipTokenizerTest, DecodeRoundTrips) {
  // CLIP's decode turns every end-of-word mark into a space, so words come back
  // separated by single spaces with one trailing.
  for (const std::string text :
       {"a photo of a dog", "the quick brown fox jumps over the lazy dog", "caf\u00e9 na\u00efve r\u00e9sum\u00e9",
        "\u4e2d\u6587\u5b57", "antidisestablishmentarianism", "eeeeee"}) {
    EXPECT_EQ(tok().decode(tok().encode(text)), text + " ") << text;
  }
  EXPECT_EQ(tok().decode({49406, 320, 1929, 49407}), "<|startoftext|>a dog <|endoftext|>");
  EXPECT_EQ(tok().decode({}), "");
}

TEST_F(ClipTokenizerTest, DecodeReplacesInvalidUtf8) {
  // Byte tokens 0xC3 ("\u00c3", id 127) and 0xA9 ("\u00a9", id 102) make "é" together.
  EXPECT_EQ(tok().decode({127, 102}), "\u00e9");
  EXPECT_EQ(tok().decode({127}), "\ufffd");
  EXPECT_EQ(tok().decode({102, 127, 320}), "\ufffd\ufffda ");
  EXPECT_THROW(tok().decode({49408}), Error);
}

TEST_F(ClipTokenizerTest, ThreadSafeAndCopyable) {
  const std::vector<std::string> texts = {"a photo of a cat", "I feel jealous", "numbers 1234567 and 3.14",
                                          "emoji \U0001F600 \U0001F44D", "https://openai.com/clip?x=1"};
  std::vector<std::vector<int32_t>> expected;
  const Tokenizer fresh(tok());  // a copy shares the cache and gives the same ids
  for (const auto& text : texts) expected.push_back(fresh.encode(text));

  const Tokenizer shared_tokenizer(clip_merges(*testing::shared_dir()));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 50; ++round) {
        for (size_t i = 0; i < texts.size(); ++i) {
          if (shared_tokenizer.encode(texts[i]) != expected[i]) ++mismatches[static_cast<size_t>(t)];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(mismatches[static_cast<size_t>(t)], 0) << "thread " << t;
  EXPECT_EQ(expected[0], (std::vector<int32_t>{320, 1125, 539, 320, 2368}));
}

// ---- merges files ------------------------------------------------------------------

// 256 byte symbols ('!' is id 0, 'l' id 75, 'o' id 78, 'w' id 86), their "</w>" forms from
// 256, then one id per merge from 512, then <|startoftext|>, <|endoftext|>.
constexpr int32_t kId_l = 75, kId_o = 78, kId_lw = 256 + 75, kId_ww = 256 + 86;

TEST(TokenizerMerges, SmallVocabularyFromPlainFile) {
  const fs::path dir = testing::temp_dir();
  const fs::path path = dir / "tiny_merges.txt";
  write_file(path, "#version: 0.2\nl o\nlo w</w>\nh i</w>\n");
  const Tokenizer tok(path, 512 + 3 + 2);
  EXPECT_EQ(tok.vocab_size(), 517);
  EXPECT_EQ(tok.sot(), 515);
  EXPECT_EQ(tok.eot(), 516);
  EXPECT_EQ(tok.token_string(512), "lo");
  EXPECT_EQ(tok.token_string(513), "low</w>");
  EXPECT_EQ(tok.encode("Low hi"), (std::vector<int32_t>{513, 514}));
  EXPECT_EQ(tok.encode("lol"), (std::vector<int32_t>{512, kId_lw}));
  EXPECT_EQ(tok.tokenize("low hi", 5), (std::vector<int32_t>{515, 513, 514, 516, 0}));
  EXPECT_EQ(tok.decode(tok.encode("low hi lol")), "low hi lol ");
}

TEST(TokenizerMerges, VocabSizeSelectsLeadingMerges) {
  const fs::path path = testing::temp_dir() / "tiny_merges.txt.gz";
  write_gzip(path, "#version: 0.2\nl o\nlo w</w>\nh i</w>\n");
  // Only the first merge: "low" stops at "lo" + "w</w>".
  const Tokenizer one_merge(path, 512 + 1 + 2);
  EXPECT_EQ(one_merge.encode("low"), (std::vector<int32_t>{512, kId_ww}));
  EXPECT_EQ(one_merge.sot(), 513);
  // No merges at all: byte symbols only.
  const Tokenizer no_merges(path, 512 + 2);
  EXPECT_EQ(no_merges.encode("low"), (std::vector<int32_t>{kId_l, kId_o, kId_ww}));
  EXPECT_EQ(no_merges.eot(), 513);
}

TEST(TokenizerMerges, LowerRankMergesFirst) {
  const fs::path path = testing::temp_dir() / "ranked.txt";
  write_file(path, "#version: 0.2\no w</w>\nl o\n");
  const Tokenizer tok(path, 512 + 2 + 2);
  // "o w</w>" (rank 0) takes the 'o' before "l o" (rank 1) can.
  EXPECT_EQ(tok.encode("low"), (std::vector<int32_t>{kId_l, 512}));
}

TEST(TokenizerMerges, MissingOrInvalidFilesThrow) {
  const fs::path dir = testing::temp_dir();
  const auto expect_error = [](const fs::path& path, int vocab_size, const std::string& words) {
    const std::string message = error_message([&] { Tokenizer tok(path, vocab_size); });
    ASSERT_FALSE(message.empty()) << path << ": no Error thrown";
    EXPECT_NE(message.find(path.filename().string()), std::string::npos) << message;
    EXPECT_NE(message.find(words), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  };
  expect_error(dir / "absent.txt.gz", 49408, "not found");
  expect_error(dir, 49408, "directory");

  write_file(dir / "no_header.txt", "l o\nlo w</w>\n");
  expect_error(dir / "no_header.txt", 512 + 2 + 2, "not a merges file");

  write_file(dir / "binary.bin", std::string("#version\n\x00\xff\xfe garbage", 20));
  expect_error(dir / "binary.bin", 512 + 1 + 2, "not a merges file");

  write_file(dir / "not_pairs.txt", "#version: 0.2\nl o\nthree symbols here\n");
  expect_error(dir / "not_pairs.txt", 512 + 2 + 2, "line 3");

  write_file(dir / "short.txt", "#version: 0.2\nl o\nlo w</w>\n");
  expect_error(dir / "short.txt", 512 + 3 + 2, "has 2 merges");
  expect_error(dir / "short.txt", 100, "vocab_size");

  // A gzip file cut short.
  const fs::path whole = dir / "whole.txt.gz";
  std::string content = "#version: 0.2\n";
  for (int i = 0; i < 2000; ++i) content += "a" + std::to_string(i) + " b" + std::to_string(i * 7) + "\n";
  write_gzip(whole, content);
  std::ifstream in(whole, std::ios::binary);
  const std::string gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(gz.size(), 100u);
  write_file(dir / "cut.txt.gz", gz.substr(0, gz.size() / 2));
  expect_error(dir / "cut.txt.gz", 512 + 10 + 2, "gzip");
  // ...while the whole file is fine.
  EXPECT_NO_THROW(Tokenizer(whole, 512 + 2000 + 2));
}

}  // namespace
}  // namespace clipscope
