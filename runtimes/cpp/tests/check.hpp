// A minimal test harness (no network at build time, so no gtest): TEST(name) { CHECK(...); }.
// Each test binary runs all its tests, or those named on the command line; it exits 1 if any failed.
#pragma once
#include <cmath>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace check {

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Case {
  const char* name;
  std::function<void()> body;
};

inline std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}

struct Register {
  Register(const char* name, std::function<void()> body) { registry().push_back({name, std::move(body)}); }
};

[[noreturn]] inline void fail(const char* file, int line, const std::string& what) {
  std::ostringstream s;
  s << file << ":" << line << ": " << what;
  throw Failure(s.str());
}

}  // namespace check

#define TEST(name)                                              \
  static void name();                                           \
  static const check::Register register_##name(#name, name);    \
  static void name()

#define CHECK(cond) \
  do { if (!(cond)) check::fail(__FILE__, __LINE__, "CHECK(" #cond ") failed"); } while (0)

#define CHECK_EQ(a, b)                                                                          \
  do {                                                                                          \
    const auto va_ = (a); const auto vb_ = (b);  /* copies: (b) may be a temporary */              \
    if (!(va_ == vb_)) {                                                                        \
      std::ostringstream s_; s_ << "CHECK_EQ(" #a ", " #b ") failed: " << va_ << " != " << vb_; \
      check::fail(__FILE__, __LINE__, s_.str());                                                \
    }                                                                                           \
  } while (0)

// expr must throw `type` whose what() contains `text`.
#define CHECK_THROWS(expr, type, text)                                                                   \
  do {                                                                                                   \
    try {                                                                                                \
      (void)(expr);                                                                                      \
    } catch (const type& e_) {                                                                           \
      if (std::string(e_.what()).find(text) == std::string::npos)                                        \
        check::fail(__FILE__, __LINE__, std::string("message lacks '") + (text) + "': " + e_.what());    \
      break;                                                                                             \
    }                                                                                                    \
    check::fail(__FILE__, __LINE__, "expected " #type " from " #expr);                                   \
  } while (0)
