#include "check.hpp"
#include "crsae/errors.hpp"
#include "crsae/json.hpp"

using crsae::json::parse;

TEST(parses_contract_metadata_values) {
  CHECK_EQ(parse("30").as_int(), 30);
  CHECK_EQ(parse("\"1d\"").as_string(), "1d");
  CHECK(parse("null").is_null());
  CHECK(parse("true").as_bool());
  CHECK_EQ(parse("[0.5, 1e-3, -2]").as_array().size(), 3u);
  CHECK_EQ(parse("[0.5, 1e-3, -2]").as_array()[1].as_number(), 1e-3);
  CHECK(std::isnan(parse("NaN").as_number()));  // Python's json.dumps writes NaN
  CHECK_EQ(parse("-Infinity").as_number(), -HUGE_VAL);
}

TEST(parses_golden_index_shape) {
  auto v = parse(R"({"contract_version": 1, "cases": [{"name": "a", "chunk_length": null,
                     "atol": {"codes": 1.2e-4}}]})");
  CHECK_EQ(v.find("contract_version")->as_int(), 1);
  const auto& c = v.find("cases")->as_array()[0];
  CHECK_EQ(c.find("name")->as_string(), "a");
  CHECK(c.find("chunk_length")->is_null());
  CHECK_EQ(c.find("atol")->find("codes")->as_number(), 1.2e-4);
  CHECK(c.find("missing") == nullptr);
}

TEST(decodes_string_escapes) {
  CHECK_EQ(parse(R"("a\"b\\c\nd\u00e9\ud83d\ude00")").as_string(), "a\"b\\c\nd\xc3\xa9\xf0\x9f\x98\x80");
}

TEST(round_trips_through_dump) {
  auto v = parse(R"({"k": [1, 2.5, "x", null, false, {"n": -3}]})");
  CHECK(parse(v.dump()) == v);
}

TEST(rejects_malformed_text_with_position) {
  CHECK_THROWS(parse("{\"a\": 1,}", "meta.json"), crsae::DataError, "meta.json: expected a quoted key at line 1");
  CHECK_THROWS(parse("[1, 2"), crsae::DataError, "expected ']'");
  CHECK_THROWS(parse("01"), crsae::DataError, "unexpected text after the JSON value");
  CHECK_THROWS(parse("1."), crsae::DataError, "malformed number");
  CHECK_THROWS(parse("\"abc"), crsae::DataError, "unterminated string");
  CHECK_THROWS(parse("tru"), crsae::DataError, "unexpected character 't'");
  CHECK_THROWS(parse("{}\n  x"), crsae::DataError, "line 2 column 3");
  CHECK_THROWS(parse(std::string(100, '[')), crsae::DataError, "nesting deeper than 64");
}

TEST(typed_accessors_name_both_types) {
  CHECK_THROWS(parse("1.5").as_int(), crsae::DataError, "expected an integer, got a number 1.5");
  CHECK_THROWS(parse("\"x\"").as_number(), crsae::DataError, "expected a number, got a string \"x\"");
  CHECK_THROWS(crsae::json::parse_file("/nonexistent/x.json"), crsae::DataError, "cannot open JSON file");
}
