// Learning BPE merges from a corpus: CLIP's pre-tokenization (bpe_words), the
// learner's merge order and stopping rules, writing merges files that Tokenizer
// loads with vocab_size 0, and the learner/tokenizer agreement on training words.
#include "core/text/bpe_learn.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "support/shared_data.h"

namespace clipscope {
namespace {

namespace fs = std::filesystem;
using clipscope::testing::error_message;
using clipscope::testing::read_file;
using clipscope::testing::write_file;

// n distinct lowercase words made of syllables, deterministically.
std::vector<std::string> world_words(size_t n, uint32_t seed = 7) {
  static const std::vector<std::string> kSyllables = {"ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "ber",
                                                      "an", "el", "or", "ix", "qu", "ze", "pa", "dro", "gen"};
  std::mt19937 rng(seed);
  std::vector<std::string> words;
  std::map<std::string, bool> seen;
  while (words.size() < n) {
    std::string word;
    const size_t syllables = 1 + rng() % 4;
    for (size_t s = 0; s < syllables; ++s) word += kSyllables[rng() % kSyllables.size()];
    if (!seen[word]) {
      seen[word] = true;
      words.push_back(word);
    }
  }
  return words;
}

// Captions of a synthetic world: "a photo of" and 2..7 world words, now and then
// capitalised, with a comma, a number or a full stop.
std::vector<std::string> world_captions(size_t count, const std::vector<std::string>& words, uint32_t seed = 11) {
  std::mt19937 rng(seed);
  std::vector<std::string> captions;
  captions.reserve(count);
  for (size_t c = 0; c < count; ++c) {
    std::string caption = rng() % 4 == 0 ? "A photo of" : "a photo of";
    const size_t n = 2 + rng() % 6;
    for (size_t k = 0; k < n; ++k) {
      caption += ' ';
      std::string word = words[rng() % words.size()];
      if (rng() % 8 == 0) word[0] = static_cast<char>(word[0] - 'a' + 'A');
      caption += word;
      if (rng() % 10 == 0) caption += ',';
      if (rng() % 10 == 0) caption += " " + std::to_string(rng() % 10);
    }
    if (rng() % 3 == 0) caption += '.';
    captions.push_back(caption);
  }
  return captions;
}

std::map<std::string, int64_t> count_words(const std::vector<std::string>& texts) {
  std::map<std::string, int64_t> counts;
  for (const auto& text : texts) {
    for (const auto& word : bpe_words(text)) ++counts[word];
  }
  return counts;
}

fs::path write_learned(const std::vector<BpeMerge>& merges, const std::string& name = "learned.txt.gz") {
  const fs::path path = testing::temp_dir() / name;
  write_merges_file(path, merges, "test corpus");
  return path;
}

// ---- pre-tokenization ----------------------------------------------------------------

TEST(BpeWords, CleansLowercasesAndSplitsAsClip) {
  EXPECT_EQ(bpe_words("Hello, World!"), (std::vector<std::string>{"hello", ",", "world", "!"}));
  EXPECT_EQ(bpe_words("  A   DOG's\n"), (std::vector<std::string>{"a", "dog", "'s"}));
  EXPECT_EQ(bpe_words("x&amp;amp;y 2024"), (std::vector<std::string>{"x", "&", "y", "2", "0", "2", "4"}));
  EXPECT_EQ(bpe_words("<|endoftext|>"), (std::vector<std::string>{"<|endoftext|>"}));
  EXPECT_TRUE(bpe_words("").empty());
  EXPECT_TRUE(bpe_words(" \t\n ").empty());
}

TEST(BpeWords, BytesAreWrittenInTheStandInAlphabet) {
  // U+00E9 is bytes C3 A9; both are printable Latin-1, so they stand for themselves
  // (U+00C3, U+00A9).
  EXPECT_EQ(bpe_words("Caf\u00e9"), (std::vector<std::string>{"caf\u00c3\u00a9"}));
  // U+001C (byte 0x1C) is not printable: its stand-in is U+0100 + 28 = U+011C.
  EXPECT_EQ(bpe_words("a\x1c"
                      "b"),
            (std::vector<std::string>{"a", "\u011c", "b"}));
  EXPECT_EQ(bpe_symbols("dog"), (std::vector<std::string>{"d", "o", "g</w>"}));
  EXPECT_EQ(bpe_symbols("caf\u00c3\u00a9"), (std::vector<std::string>{"c", "a", "f", "\u00c3", "\u00a9</w>"}));
  EXPECT_TRUE(bpe_symbols("").empty());
}

TEST(BpeWords, AreWhatEncodeSegments) {
  // With no merges every word is its byte symbols, so the token strings of
  // encode(text), joined, are the words of bpe_words each followed by "</w>".
  const fs::path path = testing::temp_dir() / "empty_merges.txt";
  write_file(path, "#version: 0.2\n");
  const Tokenizer tok(path, 0);
  for (const std::string text : {"Hello, World!", "caf\u00e9 na\u00efve", "it's 3.14 \U0001F600",
                                 "a\x1c"
                                 "b c"}) {
    std::string from_words;
    for (const auto& word : bpe_words(text)) from_words += word + "</w>";
    std::string from_encode;
    for (int32_t id : tok.encode(text)) from_encode += tok.token_string(id);
    EXPECT_EQ(from_encode, from_words) << text;
  }
}

TEST(BpeWords, AreWhatEncodeSegmentsWithClipMerges) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  const Tokenizer tok(shared / "clip" / "bpe_simple_vocab_16e6.txt.gz");
  for (const std::string text : {"Hello, World!", "a photo of a dog", "caf\u00e9 na\u00efve r\u00e9sum\u00e9",
                                 "https://openai.com/clip?x=1", "don't 2024"}) {
    std::string from_words;
    for (const auto& word : bpe_words(text)) from_words += word + "</w>";
    std::string from_encode;
    for (int32_t id : tok.encode(text)) from_encode += tok.token_string(id);
    EXPECT_EQ(from_encode, from_words) << text;
  }
}

// ---- learning ----------------------------------------------------------------------

TEST(LearnBpe, MergesMostFrequentPairFirstAndBreaksTiesByString) {
  // Words: "ab" x3, "abc" x1. Pairs: "a b</w>" 3, "a b" 1, "b c</w>" 1.
  const std::vector<std::string> texts = {"ab ab", "AB abc"};
  EXPECT_EQ(learn_bpe(texts, 100, 1), (std::vector<BpeMerge>{{"a", "b</w>"}, {"a", "b"}, {"ab", "c</w>"}}));
  // With min_pair_count 2 only the pair seen three times is merged.
  EXPECT_EQ(learn_bpe(texts, 100, 2), (std::vector<BpeMerge>{{"a", "b</w>"}}));
  EXPECT_EQ(learn_bpe(texts, 100, 4), (std::vector<BpeMerge>{}));
  EXPECT_TRUE(learn_bpe({}, 100).empty());
  EXPECT_TRUE(learn_bpe({"", "  "}, 100).empty());
  // Special tokens are never split by the tokenizer, so nothing is learned from them.
  EXPECT_TRUE(learn_bpe({"<|endoftext|> <|startoftext|>", "<|endoftext|>"}, 100).empty());
}

TEST(LearnBpe, IsDeterministic) {
  const auto words = world_words(80);
  std::vector<std::string> captions = world_captions(3000, words);
  const auto first = learn_bpe(captions, 400);
  EXPECT_EQ(learn_bpe(captions, 400), first);
  // The order of the texts does not matter.
  std::mt19937 rng(3);
  std::shuffle(captions.begin(), captions.end(), rng);
  EXPECT_EQ(learn_bpe(captions, 400), first);
  ASSERT_FALSE(first.empty());
  // Nothing is learned twice.
  std::map<std::pair<std::string, std::string>, int> seen;
  for (const auto& merge : first) {
    EXPECT_EQ(++seen[std::make_pair(merge.first, merge.second)], 1) << merge.first << ' ' << merge.second;
  }
}

TEST(LearnBpe, MaxMergesCapsTheLearnedPrefix) {
  const auto words = world_words(60);
  const auto captions = world_captions(2000, words);
  const auto all = learn_bpe(captions, 100000);
  ASSERT_GT(all.size(), 50u);
  const auto capped = learn_bpe(captions, 25);
  ASSERT_EQ(capped.size(), 25u);
  EXPECT_TRUE(std::equal(capped.begin(), capped.end(), all.begin()));
  EXPECT_TRUE(learn_bpe(captions, 0).empty());

  const Tokenizer tok(write_learned(capped), 0);
  EXPECT_EQ(tok.vocab_size(), 512 + 25 + 2);
  EXPECT_EQ(tok.token_string(tok.sot()), "<|startoftext|>");
  EXPECT_EQ(tok.eot(), 512 + 25 + 1);
}

TEST(LearnBpe, FrequentWordsBecomeSingleTokens) {
  const auto words = world_words(150);
  std::vector<std::string> captions = world_captions(5000, words);
  captions.push_back("caf\u00e9 au lait, caf\u00e9 noir");  // a non-ASCII word seen twice
  captions.push_back("zyzzyva");                            // seen once: stays in pieces
  const auto merges = learn_bpe(captions, 1000000);
  const fs::path path = write_learned(merges);
  const Tokenizer tok(path, 0);
  EXPECT_EQ(tok.vocab_size(), static_cast<int>(512 + merges.size() + 2));

  const auto counts = count_words(captions);
  for (const auto& [word, count] : counts) {
    // The words are ASCII or "café", whose stand-in form decodes back to it.
    const std::string text = word == "caf\u00c3\u00a9" ? "caf\u00e9" : word;
    const auto ids = tok.encode(text);
    if (count >= 2) {
      EXPECT_EQ(ids.size(), 1u) << "\"" << word << "\" (seen " << count << " times)";
      if (ids.size() == 1) {
        EXPECT_EQ(tok.token_string(ids[0]), word + "</w>");
      }
    }
  }
  EXPECT_GT(tok.encode("zyzzyva").size(), 1u);
  // Every caption: one token per word, and decode gives back the cleaned words.
  for (size_t c = 0; c + 2 < captions.size(); c += 97) {
    const auto pieces = bpe_words(captions[c]);
    const auto ids = tok.encode(captions[c]);
    EXPECT_EQ(ids.size(), pieces.size()) << captions[c];
    std::string joined;
    for (const auto& piece : pieces) joined += piece + " ";
    EXPECT_EQ(tok.decode(ids), joined) << captions[c];
  }
}

TEST(LearnBpe, DecodeRoundTripsLowercaseText) {
  const auto words = world_words(100);
  const auto merges = learn_bpe(world_captions(4000, words), 300);
  const Tokenizer tok(write_learned(merges, "roundtrip.txt"), 0);
  for (const std::string& text : {words[0] + " " + words[1] + " " + words[2], std::string("a photo of ") + words[5],
                                  std::string("unseen qwxj words"), std::string("caf\u00e9 \u4e2d\u6587 7")}) {
    EXPECT_EQ(tok.decode(tok.encode(text)), text + " ") << text;
  }
  EXPECT_EQ(tok.decode(tok.encode("A  PHOTO\tOF")), "a photo of ");
}

// Words over a two-letter alphabet overlap heavily ("aaaa", "aab", "abaa"), where
// left-to-right merging and merge order matter; the learner must still end where
// the tokenizer does, so every training word seen twice is one token.
TEST(LearnBpe, AgreesWithTokenizerOnOverlappingMerges) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    std::vector<std::string> texts;
    for (int w = 0; w < 60; ++w) {
      std::string word;
      const size_t length = 1 + rng() % 9;
      for (size_t k = 0; k < length; ++k) word += rng() % 3 == 0 ? 'b' : 'a';
      const int copies = 2 + static_cast<int>(rng() % 4);
      for (int c = 0; c < copies; ++c) texts.push_back(word);
    }
    const auto merges = learn_bpe(texts, 100000);
    const Tokenizer tok(write_learned(merges, "ab.txt"), 0);
    for (const auto& text : texts) {
      EXPECT_EQ(tok.encode(text).size(), 1u) << "seed " << seed << ": \"" << text << "\"";
    }
  }
}

// A direct, slow statement of the rules: recount every pair each step, and
// segment every word from scratch as Tokenizer does with the merges so far.
std::vector<BpeMerge> naive_learn(const std::vector<std::string>& texts, int max_merges, int min_pair_count) {
  const auto counts = count_words(texts);
  std::vector<BpeMerge> merges;
  std::map<std::pair<std::string, std::string>, int> ranks;
  const auto segment = [&](const std::string& word) {
    std::vector<std::string> symbols = bpe_symbols(word);
    for (;;) {
      int best = -1;
      for (size_t i = 0; i + 1 < symbols.size(); ++i) {
        const auto found = ranks.find({symbols[i], symbols[i + 1]});
        if (found != ranks.end() && (best < 0 || found->second < best)) best = found->second;
      }
      if (best < 0) return symbols;
      const BpeMerge& merge = merges[static_cast<size_t>(best)];
      std::vector<std::string> merged;
      for (size_t i = 0; i < symbols.size();) {
        if (i + 1 < symbols.size() && symbols[i] == merge.first && symbols[i + 1] == merge.second) {
          merged.push_back(merge.first + merge.second);
          i += 2;
        } else {
          merged.push_back(symbols[i++]);
        }
      }
      symbols = merged;
    }
  };
  while (static_cast<int>(merges.size()) < max_merges) {
    std::map<std::pair<std::string, std::string>, int64_t> pairs;  // ordered: ties go to the smallest
    for (const auto& [word, count] : counts) {
      const auto symbols = segment(word);
      for (size_t i = 0; i + 1 < symbols.size(); ++i) pairs[{symbols[i], symbols[i + 1]}] += count;
    }
    const std::pair<std::string, std::string>* best = nullptr;
    int64_t best_count = 0;
    for (const auto& [pair, count] : pairs) {
      if (count > best_count) {
        best = &pair;
        best_count = count;
      }
    }
    if (best == nullptr || best_count < min_pair_count) break;
    ranks[*best] = static_cast<int>(merges.size());
    merges.push_back({best->first, best->second});
  }
  return merges;
}

TEST(LearnBpe, MatchesNaiveRecount) {
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    std::mt19937 rng(seed);
    std::vector<std::string> texts;
    for (int t = 0; t < 40; ++t) {
      std::string text;
      const size_t n = 1 + rng() % 4;
      for (size_t w = 0; w < n; ++w) {
        const size_t length = 1 + rng() % 7;
        for (size_t k = 0; k < length; ++k) text += "abc"[rng() % (seed % 2 == 0 ? 2 : 3)];
        text += w + 1 < n ? " " : "";
      }
      texts.push_back(text);
    }
    for (int min_count : {1, 2, 3}) {
      EXPECT_EQ(learn_bpe(texts, 1000, min_count), naive_learn(texts, 1000, min_count))
          << "seed " << seed << ", min_pair_count " << min_count;
    }
  }
  const auto captions = world_captions(300, world_words(40));
  EXPECT_EQ(learn_bpe(captions, 150), naive_learn(captions, 150, 2));
}

TEST(LearnBpe, RejectsInvalidArguments) {
  EXPECT_NE(error_message([] { learn_bpe({"a b"}, -1); }).find("max_merges"), std::string::npos);
  EXPECT_NE(error_message([] { learn_bpe({"a b"}, 10, 0); }).find("min_pair_count"), std::string::npos);
}

// A corpus of the size clipscope learns from: 200,000 captions over ~300 words.
TEST(LearnBpe, LargeCorpusIsFast) {
  const auto words = world_words(300);
  const auto captions = world_captions(200000, words);
  const auto start = std::chrono::steady_clock::now();
  const auto merges = learn_bpe(captions, 2000);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "learn_bpe: " << captions.size() << " captions over " << words.size() << " world words, "
            << merges.size() << " merges in " << seconds << " s\n";
  EXPECT_GT(merges.size(), 300u);
  EXPECT_LT(seconds, 30.0);
}

// ---- merges files ------------------------------------------------------------------

TEST(WriteMergesFile, PlainAndGzipLoadWithEveryMerge) {
  const fs::path dir = testing::temp_dir();
  const std::vector<BpeMerge> merges = {{"l", "o"}, {"lo", "w</w>"}, {"h", "i</w>"}};
  write_merges_file(dir / "m.txt", merges, "learned from 2 captions");
  write_merges_file(dir / "m.txt.gz", merges, "learned from 2 captions");
  EXPECT_EQ(read_file(dir / "m.txt"), "#version: 0.2 learned from 2 captions\nl o\nlo w</w>\nh i</w>\n");
  const std::string gz = read_file(dir / "m.txt.gz");
  ASSERT_GE(gz.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
  for (const char* name : {"m.txt", "m.txt.gz"}) {
    const Tokenizer tok(dir / name, 0);
    EXPECT_EQ(tok.vocab_size(), 512 + 3 + 2) << name;
    EXPECT_EQ(tok.encode("Low hi"), (std::vector<int32_t>{513, 514})) << name;
    EXPECT_EQ(tok.sot(), 515);
  }
  // Line breaks in the comment cannot break the header.
  write_merges_file(dir / "c.txt", {}, "two\nlines");
  EXPECT_EQ(read_file(dir / "c.txt"), "#version: 0.2 two lines\n");
  const Tokenizer empty(dir / "c.txt", 0);
  EXPECT_EQ(empty.vocab_size(), 514);
  // A fixed vocab_size still selects a leading part of the learned merges.
  const Tokenizer one(dir / "m.txt.gz", 512 + 1 + 2);
  EXPECT_EQ(one.vocab_size(), 515);
}

TEST(WriteMergesFile, UnwritablePathThrowsNamingIt) {
  const fs::path dir = testing::temp_dir();
  const std::vector<BpeMerge> merges = {{"a", "b"}};
  for (const fs::path& path :
       {dir / "no" / "such" / "dir" / "merges.txt.gz", dir / "no" / "such" / "merges.txt", dir}) {
    const std::string message = error_message([&] { write_merges_file(path, merges, ""); });
    ASSERT_FALSE(message.empty()) << path << ": no Error thrown";
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  const std::string message = error_message([&] { write_merges_file(dir / "bad.txt", {{"a b", "c"}}, ""); });
  EXPECT_NE(message.find("bad.txt"), std::string::npos) << message;
  EXPECT_NE(message.find("whitespace"), std::string::npos) << message;
}

TEST(TokenizerVocabSizeZero, UsesEveryMergeOfOfficialFormatFiles) {
  const fs::path dir = testing::temp_dir();
  write_file(dir / "no_final_newline.txt", "#version: 0.2\nl o\nlo w</w>");
  const Tokenizer tok(dir / "no_final_newline.txt", 0);
  EXPECT_EQ(tok.vocab_size(), 512 + 2 + 2);
  EXPECT_EQ(tok.encode("low"), (std::vector<int32_t>{513}));
  EXPECT_NE(error_message([&] { Tokenizer bad(dir / "no_final_newline.txt", -1); }).find("vocab_size"),
            std::string::npos);
}

TEST(TokenizerVocabSizeZero, LoadsAllOfClipsMerges) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  const Tokenizer all(shared / "clip" / "bpe_simple_vocab_16e6.txt.gz", 0);
  // The file holds 262,144 merges; CLIP uses the first 48,894 of them.
  EXPECT_EQ(all.vocab_size(), 512 + 262144 + 2);
  EXPECT_EQ(all.sot(), 512 + 262144);
  EXPECT_EQ(all.token_string(1929), "dog</w>");
  EXPECT_EQ(all.decode(all.encode("a photo of a dog")), "a photo of a dog ");
  EXPECT_EQ(all.encode("a dog"), (std::vector<int32_t>{320, 1929}));
}

}  // namespace
}  // namespace clipscope
