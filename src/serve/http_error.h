#pragma once
// A failed request: the HTTP status and a one-line message naming the parameter
// (or id) and the problem. The server answers it as {"error": message}.
#include <string>

#include "core/util/error.h"

namespace clipscope::serve {

struct HttpError : Error {
  HttpError(int status, const std::string& message) : Error(message), status(status) {}
  int status;
};

inline HttpError bad_request(const std::string& message) { return {400, message}; }
inline HttpError not_found(const std::string& message) { return {404, message}; }

}  // namespace clipscope::serve
