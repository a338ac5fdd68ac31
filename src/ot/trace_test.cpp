// Every editing trace in tests/data/editing-traces replays to exactly its
// endContent, through Document::apply of text-unicode ops.
#include <gtest/gtest.h>

#include <filesystem>

#include "ot/document.hpp"
#include "ot/trace.hpp"

namespace office::ot {
namespace {

TEST(Traces, EveryTraceReplaysToEndContent) {
  const std::filesystem::path dir = std::filesystem::path(OFFICE_TEST_DATA_DIR) / "editing-traces";
  int replayed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string path = entry.path().string();
    if (!path.ends_with(".json.gz")) continue;
    auto trace = load_trace(path);
    ASSERT_TRUE(trace.ok()) << trace.error().message;
    ASSERT_FALSE(trace->patches.empty()) << path;
    Document doc(trace->start_content);
    for (const TracePatch& p : trace->patches) {
      const Status s = doc.apply(patch_to_op(*trace, p));
      ASSERT_TRUE(s.ok()) << path << ": " << s.error().message;
    }
    EXPECT_EQ(doc.to_string(), trace->end_content) << path;
    ++replayed;
  }
  EXPECT_GE(replayed, 4);
}

}  // namespace
}  // namespace office::ot
