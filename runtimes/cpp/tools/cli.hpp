// What crsae-infer and crsae-bench share: the CLI promise of the Python CLI. A bad input prints exactly one
// line, "error: <what is wrong and the fix>", on stderr and exits 1; a usage error (unknown flag, missing or
// malformed argument) exits 2 the same way; nothing escapes as an abort or a crash. A closed stdout
// (`crsae-infer ... | head -1` after head has gone) ends the run quietly with status 141, as the Python CLI does;
// a stdout closed at start (`>&-`) is an error before any work, as there.
#pragma once
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
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

// The status of a run whose stdout reader has gone: what a shell shows for a tool that SIGPIPE ended (128 + 13),
// e.g. `yes | head -1`; the Python CLI's CLOSED_STDOUT.
constexpr int kClosedStdout = 141;

// Standard streams the caller closed (`crsae-infer ... >&-`) are opened on /dev/null, so that no file this
// process opens (the output, ONNX Runtime's) can take their descriptor and receive a line meant for them.
// Returns whether stdout was one of them: its result line would be lost, so the run is refused before any work.
inline bool open_closed_standard_streams() {
  bool stdout_closed = false;
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    stdout_closed = stdout_closed || fd == STDOUT_FILENO;
    const int null = ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (null >= 0 && null != fd) {
      ::dup2(null, fd);
      ::close(null);
    }
  }
  return stdout_closed;
}

// Flush stdout once `body` is done: a reader that has gone (EPIPE) gives kClosedStdout and no message (the
// output file, written before the result line, is complete); any other failed write (a full disk) an error.
inline int finish_stdout(int code) {
  errno = 0;
  std::cout.flush();  // writes stdout's buffer (cout shares it): a failure sets errno here
  const bool failed = std::fflush(stdout) != 0 || std::ferror(stdout) || !std::cout;
  const int err = errno;
  if (!failed) return code;
  const int null = ::open("/dev/null", O_WRONLY);  // the exit's own flush of what is left must not fail again
  if (null >= 0) ::dup2(null, STDOUT_FILENO), ::close(null);
  if (err == EPIPE) return kClosedStdout;
  std::cerr << "error: cannot write to stdout (" << (err ? std::strerror(err) : "write failed") << ")\n";
  return 1;
}

// Run `body` (which returns the exit code) and turn every exception into one stderr line and an exit code.
// SIGPIPE is ignored so that a write to a closed pipe fails with EPIPE instead of killing the process.
template <class Body>
int guarded(const char* program, Body&& body) {
  const bool stdout_closed = open_closed_standard_streams();
  ::signal(SIGPIPE, SIG_IGN);
  auto fail = [](int code, const std::string& what) {
    std::cerr << "error: " << one_line(what) << "\n";
    return code;
  };
  if (stdout_closed)
    return fail(1, std::string("cannot write to stdout (") + std::strerror(EBADF) + ": it is closed); run " +
                       program + " with stdout open, e.g. '> out.txt' or '> /dev/null'");
  try {
    return finish_stdout(body());
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
