// Recursive-descent JSON parser (RFC 8259, plus Python's NaN/Infinity/-Infinity) and a compact writer.
#include "crsae/json.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "crsae/errors.hpp"

namespace crsae::json {
namespace {

const char* type_name(const Value& v) {
  if (v.is_null()) return "null";
  if (v.is_bool()) return "a bool";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "a list";
  return "an object";
}

[[noreturn]] void wrong_type(const Value& v, const char* expected) {
  throw DataError("expected " + std::string(expected) + ", got " + type_name(v) + " " + v.dump());
}

class Parser {
 public:
  Parser(std::string_view text, const std::string& source) : s_(text), source_(source) {}

  Value document() {
    Value v = value(0);
    skip_space();
    if (i_ != s_.size()) fail("unexpected text after the JSON value");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 64;
  std::string_view s_;
  const std::string& source_;
  size_t i_ = 0;

  [[noreturn]] void fail(const std::string& what) const {
    size_t line = 1, col = 1;
    for (size_t k = 0; k < i_ && k < s_.size(); ++k) {
      if (s_[k] == '\n') ++line, col = 1; else ++col;
    }
    throw DataError(source_ + ": " + what + " at line " + std::to_string(line) + " column " +
                    std::to_string(col) + "; fix or regenerate the file");
  }

  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }

  bool consume(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }

  void expect(char c) {
    skip_space();
    if (i_ >= s_.size() || s_[i_] != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }

  Value value(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than 64 levels");
    skip_space();
    if (i_ >= s_.size()) fail("unexpected end of text");
    char c = s_[i_];
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') return Value(string());
    if (consume("true")) return Value(true);
    if (consume("false")) return Value(false);
    if (consume("null")) return Value();
    if (consume("NaN")) return Value(std::nan(""));
    if (consume("Infinity")) return Value(HUGE_VAL);
    if (consume("-Infinity")) return Value(-HUGE_VAL);
    if (c == '-' || (c >= '0' && c <= '9')) return Value(number());
    fail(std::string("unexpected character '") + c + "'");
  }

  Value object(int depth) {
    ++i_;  // '{'
    Value::Object members;
    skip_space();
    if (i_ < s_.size() && s_[i_] == '}') return ++i_, Value(std::move(members));
    for (;;) {
      skip_space();
      if (i_ >= s_.size() || s_[i_] != '"') fail("expected a quoted key");
      std::string key = string();
      expect(':');
      members.emplace_back(std::move(key), value(depth + 1));
      skip_space();
      if (i_ < s_.size() && s_[i_] == ',') { ++i_; continue; }
      expect('}');
      return Value(std::move(members));
    }
  }

  Value array(int depth) {
    ++i_;  // '['
    Value::Array items;
    skip_space();
    if (i_ < s_.size() && s_[i_] == ']') return ++i_, Value(std::move(items));
    for (;;) {
      items.push_back(value(depth + 1));
      skip_space();
      if (i_ < s_.size() && s_[i_] == ',') { ++i_; continue; }
      expect(']');
      return Value(std::move(items));
    }
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  double number() {
    size_t start = i_;
    if (s_[i_] == '-') ++i_;
    if (i_ < s_.size() && s_[i_] == '0') {
      ++i_;
    } else {
      if (i_ >= s_.size() || !digit(s_[i_])) fail("malformed number");
      while (i_ < s_.size() && digit(s_[i_])) ++i_;
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (i_ >= s_.size() || !digit(s_[i_])) fail("malformed number");
      while (i_ < s_.size() && digit(s_[i_])) ++i_;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (i_ >= s_.size() || !digit(s_[i_])) fail("malformed number");
      while (i_ < s_.size() && digit(s_[i_])) ++i_;
    }
    std::string literal(s_.substr(start, i_ - start));
    return std::strtod(literal.c_str(), nullptr);  // grammar checked above; "C" locale in a C++ program
  }

  unsigned hex4() {
    if (i_ + 4 > s_.size()) fail("truncated \\u escape");
    unsigned cp = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s_[i_++];
      cp <<= 4;
      if (c >= '0' && c <= '9') cp |= unsigned(c - '0');
      else if (c >= 'a' && c <= 'f') cp |= unsigned(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') cp |= unsigned(c - 'A' + 10);
      else fail("bad hex digit in \\u escape");
    }
    return cp;
  }

  static void put_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6)), out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12)), out += char(0x80 | ((cp >> 6) & 0x3F)), out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18)), out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F)), out += char(0x80 | (cp & 0x3F));
    }
  }

  std::string string() {
    ++i_;  // opening quote
    std::string out;
    for (;;) {
      if (i_ >= s_.size()) fail("unterminated string");
      char c = s_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') { out += c; continue; }
      if (i_ >= s_.size()) fail("unterminated string");
      char e = s_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00 && consume("\\u")) {  // surrogate pair
            unsigned lo = hex4();
            if (lo < 0xDC00 || lo >= 0xE000) fail("unpaired surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          put_utf8(out, cp);
          break;
        }
        default: fail(std::string("unknown escape '\\") + e + "'");
      }
    }
  }
};

void dump_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += char(c);
    else if (c == '\n') out += "\\n";
    else if (c < 0x20) { char buf[8]; std::snprintf(buf, sizeof buf, "\\u%04x", c); out += buf; }
    else out += char(c);
  }
  out += '"';
}

void dump_to(std::string& out, const Value& v) {
  if (v.is_null()) { out += "null"; return; }
  if (v.is_bool()) { out += v.as_bool() ? "true" : "false"; return; }
  if (v.is_number()) {
    double d = v.as_number();
    if (std::isnan(d)) { out += "NaN"; return; }
    if (std::isinf(d)) { out += d > 0 ? "Infinity" : "-Infinity"; return; }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", d);
    out += buf;
    return;
  }
  if (v.is_string()) { dump_string(out, v.as_string()); return; }
  if (v.is_array()) {
    out += '[';
    const auto& a = v.as_array();
    for (size_t k = 0; k < a.size(); ++k) { if (k) out += ", "; dump_to(out, a[k]); }
    out += ']';
    return;
  }
  out += '{';
  const auto& o = v.as_object();
  for (size_t k = 0; k < o.size(); ++k) {
    if (k) out += ", ";
    dump_string(out, o[k].first);
    out += ": ";
    dump_to(out, o[k].second);
  }
  out += '}';
}

}  // namespace

bool Value::is_integer() const {
  if (!is_number()) return false;
  double d = std::get<double>(v_);
  return std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.007199254740992e15;  // exact in a double
}

bool Value::as_bool() const {
  if (!is_bool()) wrong_type(*this, "a bool");
  return std::get<bool>(v_);
}

double Value::as_number() const {
  if (!is_number()) wrong_type(*this, "a number");
  return std::get<double>(v_);
}

int64_t Value::as_int() const {
  if (!is_integer()) wrong_type(*this, "an integer");
  return static_cast<int64_t>(std::get<double>(v_));
}

const std::string& Value::as_string() const {
  if (!is_string()) wrong_type(*this, "a string");
  return std::get<std::string>(v_);
}

const Value::Array& Value::as_array() const {
  if (!is_array()) wrong_type(*this, "a list");
  return std::get<Array>(v_);
}

const Value::Object& Value::as_object() const {
  if (!is_object()) wrong_type(*this, "an object");
  return std::get<Object>(v_);
}

const Value* Value::find(std::string_view key) const {
  if (!is_object()) return nullptr;
  for (const auto& [k, v] : std::get<Object>(v_)) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::string Value::dump() const {
  std::string out;
  dump_to(out, *this);
  return out;
}

Value parse(std::string_view text, const std::string& source) { return Parser(text, source).document(); }

Value parse_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError("cannot open JSON file " + path + "; check the path");
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

}  // namespace crsae::json
