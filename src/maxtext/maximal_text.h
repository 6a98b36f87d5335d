#pragma once
// Maximal text: the text whose embedding points along a target of CLIP's joint space —
// a unit's direction (the bilinear view: the attention pool taken as affine), an
// image's embedding, a text's, or a weighted sum of them. The article fixes a neuron
// and searches for "the text maximally corresponding to that neuron" by hill climbing
// over token sequences; a student reproduction optimizes the token embeddings with a
// cosine loss and snaps them to the vocabulary after every epoch. Both are here, as
// one entry point with the method an option.
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/model/clip.h"
#include "core/text/tokenizer.h"

namespace clipscope::maxtext {

struct Target {
  std::string expression;   // as given
  torch::Tensor direction;  // (embed_dim), unit length, float on the CPU
};

// A target from the objective language (core/util/expression.h), terms summed with
// their weights after each is normalized:
//   unit(LAYER, UNIT) or LAYER:UNIT  a unit's direction in the embedding space (the
//                                    layers abstractions::attribution_points lists)
//   image(PATH)                      an image's embedding
//   text("TEXT")                     a text's embedding (prompt as given)
// Throws Error naming the expression for an unknown call, a bad argument, an
// unreadable image, a unit out of range or a sum of zero.
Target parse_target(CLIP& model, const Tokenizer& tokenizer, const std::string& expression);

enum class Method { HillClimb, Embedding };
Method parse_method(const std::string& name);  // "hill-climb" | "embedding"; throws Error
std::string method_name(Method method);

struct Options {
  Method method = Method::HillClimb;
  int max_tokens = 8;  // tokens in a text, start and end tokens not counted
  uint64_t seed = 0;
  int top = 20;    // texts kept in the result, best first, each once
  int batch = 64;  // sequences per forward pass
  bool progress = false;
  // Called after each generation or epoch with (done, total); it may throw to stop.
  std::function<void(int64_t, int64_t)> on_step;
  // Hill climbing (the article's): a pool of the best sequences; each generation
  // mutates them (a token replaced, inserted or deleted; replacements drawn from the
  // tokens whose embedding most raises the score to first order, or at random) and
  // keeps the best `pool` of parents and children.
  int pool = 28;
  int generations = 60;
  int children = 128;   // per generation
  int candidates = 16;  // first-order replacement tokens considered per position
  // Embedding optimization (the reproduction's): SGD on the token embeddings, cosine
  // loss, `iterations` steps an epoch; after each epoch the embeddings snap to their
  // nearest tokens (by cosine), the text is decoded and re-tokenized, and optimization
  // goes on from those tokens' embeddings.
  int epochs = 10;
  int iterations = 50;
  double learning_rate = 2.0;
};

// The options that decide the result (not batch, progress or on_step), as JSON.
nlohmann::json options_json(const Options& options);

struct Candidate {
  std::string text;  // decoded; valid UTF-8
  double score = 0;  // cosine of the text's embedding (re-tokenized as typed) with the target
  int found_at = 0;  // generation or epoch
};

struct Result {
  Target target;
  Method method = Method::HillClimb;
  std::vector<Candidate> texts;  // best first, distinct
  int64_t evaluated = 0;         // sequences scored
  double seconds = 0;
  nlohmann::json to_json() const;
  std::string table() const;
};

// Throws ArgumentError naming the option for max_tokens outside [1, context - 2] or a
// non-positive count.
Result maximal_text(CLIP& model, const Tokenizer& tokenizer, const Target& target, const Options& options = {});

// Scores (cosines with `direction`) of token sequences (each without start and end
// tokens, at most context - 2 long), in batches: the fast path both methods use.
std::vector<double> score_sequences(CLIP& model, const Tokenizer& tokenizer,
                                    const std::vector<std::vector<int32_t>>& sequences, const torch::Tensor& direction,
                                    int batch);

}  // namespace clipscope::maxtext
