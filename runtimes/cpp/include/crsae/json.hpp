// A small JSON reader, enough for the crsae metadata (values JSON-encoded in the ONNX metadata map and in
// the NAME.json sidecar) and the golden index. Accepts NaN/Infinity like Python's json module.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace crsae::json {

class Value {
 public:
  using Array = std::vector<Value>;
  using Object = std::vector<std::pair<std::string, Value>>;  // in document order

  Value() = default;  // null
  explicit Value(bool b) : v_(b) {}
  explicit Value(double d) : v_(d) {}
  explicit Value(std::string s) : v_(std::move(s)) {}
  Value(const char*) = delete;  // would silently pick the bool constructor
  explicit Value(Array a) : v_(std::move(a)) {}
  explicit Value(Object o) : v_(std::move(o)) {}

  bool is_null() const { return v_.index() == 0; }
  bool is_bool() const { return v_.index() == 1; }
  bool is_number() const { return v_.index() == 2; }
  bool is_integer() const;  // a number with no fractional part
  bool is_string() const { return v_.index() == 3; }
  bool is_array() const { return v_.index() == 4; }
  bool is_object() const { return v_.index() == 5; }

  // Accessors throw crsae::DataError naming the expected and the actual type.
  bool as_bool() const;
  double as_number() const;
  int64_t as_int() const;
  const std::string& as_string() const;
  const Array& as_array() const;
  const Object& as_object() const;

  // Object member or nullptr (also nullptr when this is not an object).
  const Value* find(std::string_view key) const;

  std::string dump() const;  // compact JSON text, for messages
  bool operator==(const Value& other) const { return v_ == other.v_; }
  bool operator!=(const Value& other) const { return !(*this == other); }

 private:
  std::variant<std::monostate, bool, double, std::string, Array, Object> v_;
};

// Parse one JSON document; throws crsae::DataError "<source>: <problem> at line L column C".
Value parse(std::string_view text, const std::string& source = "JSON text");
Value parse_file(const std::string& path);

}  // namespace crsae::json
