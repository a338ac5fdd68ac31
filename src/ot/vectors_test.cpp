// Data-driven: the text-unicode transform vectors from ottypes/text-unicode.
// Groups of four lines: op, otherOp, side, expected transform(op, otherOp, side).
// The vector file predates text-unicode 4.x: it writes trailing skips and,
// in later groups, inserts in the legacy form {"i":"text"}. Both are mapped
// to today's shape before use ({"i":s} -> s, then normalize), which is also
// how the npm package passes all of them (checked in tests/ot).
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "ot/json_codec.hpp"
#include "ot/op.hpp"

#include <nlohmann/json.hpp>

namespace office::ot {
namespace {

Result<Op> read_op(const std::string& line) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_array()) {
    for (auto& c : j) {
      if (c.is_object() && c.contains("i")) c = c["i"];
    }
  }
  auto op = op_from_json(j);
  if (!op) return op;
  return normalize(*op);
}

TEST(TransformVectors, AllPass) {
  const std::string path =
      std::string(OFFICE_TEST_DATA_DIR) + "/ot-vectors/text-unicode-transform-tests.json";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  ASSERT_EQ(lines.size() % 4, 0u);
  ASSERT_GT(lines.size(), 0u);
  int cases = 0;
  for (std::size_t i = 0; i + 3 < lines.size(); i += 4) {
    auto op = read_op(lines[i]);
    auto other = read_op(lines[i + 1]);
    auto expected = read_op(lines[i + 3]);
    ASSERT_TRUE(op && other && expected) << "vector " << i / 4;
    const Side side = lines[i + 2] == "left" ? Side::kLeft : Side::kRight;
    ASSERT_TRUE(lines[i + 2] == "left" || lines[i + 2] == "right");
    auto got = transform(*op, *other, side);
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ(dump_op(*got), dump_op(*expected))
        << "vector " << i / 4 << ": " << lines[i] << " by " << lines[i + 1] << " " << lines[i + 2];
    ++cases;
  }
  EXPECT_GE(cases, 10);
}

}  // namespace
}  // namespace office::ot
