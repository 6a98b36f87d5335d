#include "serve/server.h"

#include <fmt/format.h>

#include <charconv>
#include <fstream>
#include <sstream>

#include "core/util/error.h"
#include "core/util/strings.h"
#include "serve/assets.h"
#include "serve/http_error.h"

using nlohmann::json;

namespace clipscope::serve {

namespace {

void send_json(httplib::Response& res, const json& body, int status = 200) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

// Runs a handler; an HttpError becomes its status, a library's ArgumentError a 400,
// any other failure a 500, all with {"error": message}.
template <typename F>
void guarded(httplib::Response& res, F&& handler) {
  try {
    handler();
  } catch (const HttpError& e) {
    send_json(res, {{"error", e.what()}}, e.status);
  } catch (const ArgumentError& e) {  // a library's complaint about a value the request gave
    send_json(res, {{"error", e.what()}}, 400);
  } catch (const std::exception& e) {
    send_json(res, {{"error", e.what()}}, 500);
  }
}

int64_t parse_integer(const std::string& text, const std::string& what) {
  if (const auto value = to_number<int64_t>(text)) return *value;
  throw bad_request(fmt::format("{} '{}': not an integer", what, text));
}

// An optional integer query parameter within [lo, hi].
int64_t int_param(const httplib::Request& req, const std::string& name, int64_t fallback, int64_t lo, int64_t hi) {
  if (!req.has_param(name.c_str())) return fallback;
  const int64_t v = parse_integer(req.get_param_value(name.c_str()), name);
  if (v < lo || v > hi) throw bad_request(fmt::format("{} {}: expected {}-{}", name, v, lo, hi));
  return v;
}

std::string string_param(const httplib::Request& req, const std::string& name, const std::string& fallback) {
  return req.has_param(name.c_str()) ? req.get_param_value(name.c_str()) : fallback;
}

}  // namespace

Server::Server(AtlasView& view, LiveModel* live, ServerOptions options) : view_(view), live_(live), options_(options) {
  http_.set_payload_max_length(options_.max_upload_bytes);
  // Without it, Nagle's algorithm holds a response's last segment for the client's
  // delayed ACK: 40 ms added to every request on Linux.
  http_.set_tcp_nodelay(true);
  http_.set_default_headers({{"X-Content-Type-Options", "nosniff"}});
  // Answers httplib gives itself (no route, upload too large) become JSON too.
  http_.set_error_handler(
      httplib::Server::HandlerWithResponse([this](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        std::string message = fmt::format("{} {}: no such endpoint", req.method, req.path);
        if (res.status == 413)
          message = fmt::format("upload too large: the limit is {} bytes", options_.max_upload_bytes);
        else if (res.status != 404)
          message = fmt::format("{} {}: malformed or unsupported request (HTTP {})", req.method, req.path, res.status);
        send_json(res, {{"error", message}}, res.status);
        return httplib::Server::HandlerResponse::Handled;
      }));
  routes();
}

LiveModel& Server::live() const {
  if (!live_) throw HttpError(503, "this needs the model: start clipscope serve with --model");
  return *live_;
}

void Server::routes() {
  page_routes();
  unit_routes();
  search_routes();
  image_routes();
}

// The page and its static files.
void Server::page_routes() {
  auto serve_asset = [](httplib::Response& res, std::string_view name) {
    const Asset* asset = find_asset(name);
    if (!asset) throw not_found(fmt::format("/static/{}: no such file", name));
    res.set_content(std::string(asset->bytes), std::string(content_type(name)).c_str());
  };
  http_.Get("/", [=](const httplib::Request&, httplib::Response& res) {
    guarded(res, [&] { serve_asset(res, "index.html"); });
  });
  http_.Get(R"(/static/([^/]+))", [=](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] { serve_asset(res, req.matches[1].str()); });
  });
}

// The atlas, its layers and units, and jobs for units (renders, maximal texts).
void Server::unit_routes() {
  http_.Get("/api/atlas", [this](const httplib::Request&, httplib::Response& res) {
    guarded(res, [&] {
      json out = view_.overview();
      out["live"] = live_ != nullptr;
      send_json(res, out);
    });
  });
  http_.Get(R"(/api/layers/([^/]+)/units)", [this](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      send_json(res, view_.unit_grid(req.matches[1], int_param(req, "offset", 0, 0, INT64_MAX / 2),
                                     int_param(req, "limit", 100, 1, 1000), string_param(req, "sort", "unit"),
                                     string_param(req, "family", "")));
    });
  });
  http_.Get(R"(/api/units/([^/]+)/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      const int64_t unit = parse_integer(req.matches[2], "unit");
      json out = view_.unit(req.matches[1], unit, static_cast<int>(int_param(req, "k", 20, 1, 100)));
      out["job"] = live_ ? live_->job_for_unit(out["layer"], unit, "render") : json(nullptr);
      out["maximal_text_job"] = live_ ? live_->job_for_unit(out["layer"], unit, "maximal-text") : json(nullptr);
      out["can_find_text"] = live_ && live_->can_find_text(view_.layer(out["layer"]));
      send_json(res, out);
    });
  });
  http_.Get(R"(/api/units/([^/]+)/([^/]+)/neighbors)", [this](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      send_json(res, view_.neighbors(req.matches[1], parse_integer(req.matches[2], "unit"),
                                     string_param(req, "by", "correlation"),
                                     static_cast<int>(int_param(req, "k", 12, 1, 100))));
    });
  });
  http_.Get(R"(/api/units/([^/]+)/([^/]+)/circuit)", [this](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      const auto& layer = view_.layer(req.matches[1]);
      const int64_t unit = parse_integer(req.matches[2], "unit");
      view_.check_unit(layer, unit);
      send_json(res, live().circuit(layer, unit, static_cast<int>(int_param(req, "k", 12, 1, 100)),
                                    static_cast<int>(int_param(req, "examples", 10, 1, 100))));
    });
  });
  http_.Post(R"(/api/units/([^/]+)/([^/]+)/render)", [this](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      const auto& layer = view_.layer(req.matches[1]);
      const int64_t unit = parse_integer(req.matches[2], "unit");
      view_.check_unit(layer, unit);
      send_json(res, {{"job", live().render(layer, unit)}}, 202);
    });
  });
  http_.Post(R"(/api/units/([^/]+)/([^/]+)/maximal-text)", [this](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      const auto& layer = view_.layer(req.matches[1]);
      const int64_t unit = parse_integer(req.matches[2], "unit");
      view_.check_unit(layer, unit);
      send_json(res, {{"job", live().maximal_text(layer, unit)}}, 202);
    });
  });
  http_.Get(R"(/api/jobs/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] { send_json(res, live().job(parse_integer(req.matches[1], "job"))); });
  });
}

// Words, text and images searched against the atlas (and the model, when there is one).
void Server::search_routes() {
  http_.Get("/api/search", [this](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      const std::string q = string_param(req, "q", "");
      if (q.empty() || q.size() > 200) throw bad_request("q: expected 1-200 bytes of text");
      const int k = static_cast<int>(int_param(req, "k", 12, 1, 100));
      json out = view_.word_search(q, k);
      out["query"] = q;
      out["labels"] = view_.label_search(q, k);
      out["text"] = live_ ? live_->text_search(q, k) : json(nullptr);
      out["rendered"] = live_ ? live_->rendered_search(q, k) : json(nullptr);
      send_json(res, out);
    });
  });
  http_.Post("/api/search/image", [this](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      if (req.body.empty()) throw bad_request("image: the request body is empty (send the JPEG or PNG bytes)");
      send_json(res, live().image_search(req.body, static_cast<int>(int_param(req, "k", 12, 1, 100))));
    });
  });
  http_.Get(R"(/api/words/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    guarded(res,
            [&] { send_json(res, view_.word(req.matches[1], static_cast<int>(int_param(req, "k", 20, 1, 100)))); });
  });
}

// Dataset examples and feature visualizations as images.
void Server::image_routes() {
  http_.Get(R"(/img/example/([^/]+)/([^/]+)/([^/]+)/([^/]+))",
            [this](const httplib::Request& req, httplib::Response& res) {
              guarded(res, [&] {
                const auto bytes = view_.example_jpeg(
                    req.matches[1], parse_integer(req.matches[2], "unit"), atlas::parse_example_list(req.matches[3]),
                    static_cast<int>(std::clamp<int64_t>(parse_integer(req.matches[4], "rank"), -1, INT32_MAX)),
                    static_cast<int>(int_param(req, "size", 160, 16, 1024)), int_param(req, "full", 0, 0, 1) == 1);
                res.set_header("Cache-Control", "max-age=3600");
                res.set_content(*bytes, "image/jpeg");
              });
            });
  http_.Get(R"(/img/vis/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      const int64_t id = parse_integer(req.matches[1], "visualization");
      const auto vis = view_.visualizations().get(id);
      if (!vis) throw not_found(fmt::format("visualization {}: no such visualization", id));
      std::ifstream in(vis->file, std::ios::binary);
      if (!in) throw not_found(fmt::format("visualization {}: its file is gone", id));
      std::ostringstream bytes;
      bytes << in.rdbuf();
      res.set_header("Cache-Control", "max-age=3600");
      res.set_content(bytes.str(), "image/png");
    });
  });
}

int Server::bind() {
  if (options_.port == 0) {
    const int port = http_.bind_to_any_port(options_.host);
    if (port <= 0) throw ArgumentError("host", options_.host, "cannot listen there");
    return port;
  }
  if (!http_.bind_to_port(options_.host, options_.port))
    throw ArgumentError("port", std::to_string(options_.port),
                        fmt::format("cannot listen on {}:{} (in use, or not an address of this machine?)",
                                    options_.host, options_.port));
  return options_.port;
}

void Server::listen() { http_.listen_after_bind(); }

void Server::stop() { http_.stop(); }

}  // namespace clipscope::serve
