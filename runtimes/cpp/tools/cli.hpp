// What crsae-infer and crsae-bench share: the CLI promise of the Python CLI. A bad input prints exactly one
// line, "error: <what is wrong and the fix>", on stderr and exits 1; a usage error (unknown flag, missing or
// malformed argument) exits 2 the same way; nothing escapes as an abort or a crash.
#pragma once
#include <cstdint>
#include <exception>
#include <iostream>
#include <new>
#include <stdexcept>
#include <string>

#include "crsae/errors.hpp"

namespace crsae::cli {

// A usage error: exit 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Messages are one line: any line break inside becomes a space.
inline std::string one_line(std::string text) {
  for (char& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  return text;
}

// `text` as a whole number in [min, max], else a UsageError naming `flag`.
inline int64_t parse_int(const std::string& flag, const std::string& text, int64_t min, int64_t max) {
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size() || v < min || v > max)
    throw UsageError(flag + " must be a whole number from " + std::to_string(min) +
                     (max == INT64_MAX ? " up" : " to " + std::to_string(max)) + ", got '" + text + "'");
  return v;
}

// Run `body` (which returns the exit code) and turn every exception into one stderr line and an exit code.
template <class Body>
int guarded(const char* program, Body&& body) {
  auto fail = [](int code, const std::string& what) {
    std::cerr << "error: " << one_line(what) << "\n";
    return code;
  };
  try {
    return body();
  } catch (const UsageError& e) {
    return fail(2, std::string(e.what()) + "; run " + program + " --help for usage");
  } catch (const crsae::Error& e) {
    return fail(1, e.what());
  } catch (const std::bad_alloc&) {
    return fail(1, "out of memory for this input; pass a smaller signal (or, for 1-D, a --chunk size)");
  } catch (const std::exception& e) {
    return fail(1, std::string("unexpected failure (") + e.what() + "); please report it as a crsae bug");
  } catch (...) {
    return fail(1, "unexpected failure; please report it as a crsae bug");
  }
}

}  // namespace crsae::cli
