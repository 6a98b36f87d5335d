#pragma once
// `clipscope serve`'s HTTP server (cpp-httplib): the page (compiled-in assets),
// the JSON API over an AtlasView and, with a model, a LiveModel. Only atlas
// content is served, by id; every failure is a JSON error with a 4xx status.
#include <httplib.h>

#include <cstddef>
#include <string>

#include "serve/atlas_view.h"
#include "serve/live.h"

namespace clipscope::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port
  size_t max_upload_bytes = 8 << 20;
};

class Server {
 public:
  // live may be null (no --model): its endpoints then answer 503.
  Server(AtlasView& view, LiveModel* live, ServerOptions options);
  // Binds the socket; returns the port. Throws Error naming host:port when it cannot.
  int bind();
  // Serves until stop() (from another thread or a signal handler's thread).
  void listen();
  void stop();

 private:
  void routes();  // every route, by the four groups below
  void page_routes();
  void unit_routes();
  void search_routes();
  void image_routes();
  LiveModel& live() const;
  httplib::Server http_;
  AtlasView& view_;
  LiveModel* live_;
  ServerOptions options_;
};

}  // namespace clipscope::serve
