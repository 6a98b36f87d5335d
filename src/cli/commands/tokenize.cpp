// clipscope tokenize "text"... | clipscope tokenize --decode ID...
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "core/util/error.h"

namespace clipscope::cli {

void add_tokenize_command(CLI::App& app, Context& ctx) {
  struct Options {
    std::vector<std::string> texts;
    std::vector<int32_t> decode;
    std::optional<std::string> vocab;
    int context_length = Tokenizer::kDefaultContextLength;
    int vocab_size = Tokenizer::kDefaultVocabSize;
    bool truncate = false, json = false, pieces = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("tokenize", "CLIP's BPE tokenizer: text -> token ids (or --decode ids -> text)");
  cmd->add_option("texts", o->texts, "Texts to tokenize");
  cmd->add_option("--decode", o->decode, "Token ids to decode instead");
  add_vocab_option(*cmd, o->vocab);
  cmd->add_option("--context-length", o->context_length, "Tokens per text, with start and end")->default_val(77);
  cmd->add_option("--vocab-size", o->vocab_size,
                  "Vocabulary size of the model (0 = every merge in the file, e.g. the demo model's "
                  "models/demo/clipscope-demo.bpe.txt.gz)")
      ->default_val(49408);
  add_truncate_option(*cmd, o->truncate);
  cmd->add_flag("--pieces", o->pieces, "Print the BPE piece of each id");
  cmd->add_flag("--json", o->json, "JSON output");
  cmd->callback([&ctx, o] {
    Tokenizer tok(resolve_vocab_path(o->vocab, ctx.load_options()), o->vocab_size);
    if (!o->decode.empty()) {
      std::vector<int32_t> ids;
      for (auto id : o->decode) {
        if (id < 0 || id >= tok.vocab_size())
          throw Error(fmt::format("--decode: token id {} is outside the vocabulary (0..{})", id, tok.vocab_size() - 1));
        if (id != tok.sot() && id != tok.eot() && id != 0) ids.push_back(id);
      }
      const std::string text = tok.decode(ids);
      if (o->json)
        fmt::print("{}\n", nlohmann::json(text).dump());
      else
        fmt::print("{}\n", text);
      return;
    }
    if (o->texts.empty()) throw Error("tokenize: give texts to tokenize or --decode ids");
    nlohmann::json out = nlohmann::json::array();
    for (const auto& text : o->texts) {
      auto ids = tok.tokenize(text, o->context_length, o->truncate);
      while (!ids.empty() && ids.back() == 0) ids.pop_back();  // padding is implied
      if (o->json) {
        nlohmann::json row = {{"text", text}, {"ids", ids}};
        if (o->pieces) {
          std::vector<std::string> pieces;
          for (auto id : ids) pieces.push_back(tok.token_string(id));
          row["pieces"] = pieces;
        }
        out.push_back(row);
      } else if (o->pieces) {
        std::vector<std::string> cells;
        for (auto id : ids) cells.push_back(fmt::format("{}:{}", id, tok.token_string(id)));
        fmt::print("{}\n", fmt::join(cells, " "));
      } else {
        fmt::print("{}\n", fmt::join(ids, " "));
      }
    }
    if (o->json) fmt::print("{}\n", out.dump(1));
  });
}

}  // namespace clipscope::cli
