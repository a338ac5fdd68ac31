#include "ot/document.hpp"

#include <gtest/gtest.h>

#include <string>

#include "ot/random_ops_test_util.hpp"
#include "ot/utf8.hpp"

namespace office::ot {
namespace {

// Reference model: a vector of code points as UTF-8 strings.
std::vector<std::string> split_cps(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t j = i + 1;
    while (j < s.size() && !utf8::is_lead(static_cast<unsigned char>(s[j]))) ++j;
    out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}
std::string join(const std::vector<std::string>& v, std::size_t from = 0, std::size_t to = ~0ULL) {
  std::string s;
  for (std::size_t i = from; i < std::min(to, v.size()); ++i) s += v[i];
  return s;
}

TEST(Utf8, ByteOffsetFromEnd) {
  const std::string s = "aé😀中b";  // 1 + 2 + 4 + 3 + 1 bytes
  EXPECT_EQ(utf8::byte_offset_from_end(s, 0), 11u);
  EXPECT_EQ(utf8::byte_offset_from_end(s, 1), 10u);
  EXPECT_EQ(utf8::byte_offset_from_end(s, 2), 7u);
  EXPECT_EQ(utf8::byte_offset_from_end(s, 3), 3u);
  EXPECT_EQ(utf8::byte_offset_from_end(s, 4), 1u);
  EXPECT_EQ(utf8::byte_offset_from_end(s, 5), 0u);
  EXPECT_EQ(utf8::byte_offset_from_end(s, 9), 0u);
  for (std::size_t k = 0; k <= 5; ++k)
    EXPECT_EQ(utf8::byte_offset_from_end(s, k), utf8::byte_offset(s, 5 - k)) << k;
}

// The one- and two-component shapes apply() takes directly, at their edges:
// every invalid one must still fail with npm's message and change nothing.
TEST(Document, SingleEditShapesAtTheEdges) {
  struct Case {
    Op op;
    const char* error;  // nullptr: applies
    const char* after;
  };
  const std::vector<Case> cases = {
      {{Component::insert("x")}, nullptr, "xhéllo"},
      {{Component::skip(5), Component::insert("x")}, nullptr, "héllox"},
      {{Component::skip(4), Component::del(1)}, nullptr, "héll"},
      {{Component::skip(4), Component::del(9)}, nullptr, "héll"},
      {{Component::skip(5), Component::del(1)}, nullptr, "héllo"},
      {{Component::del(2)}, nullptr, "llo"},
      {{Component::skip(0), Component::insert("x")}, "Skip components must be >0", nullptr},
      {{Component::insert("")}, "Inserts cannot be empty", nullptr},
      {{Component::del(0)}, "Deletes must not be empty", nullptr},
      {{Component::skip(3)}, "Op has a trailing skip", nullptr},
      {{Component::skip(1), Component::skip(2)},
       "Adjacent skip components should be combined",
       nullptr},
      {{Component::skip(6), Component::insert("x")},
       "The op is too long for this document",
       nullptr},
  };
  for (const Case& c : cases) {
    Document d("héllo");
    Status st = d.apply(c.op);
    if (c.error == nullptr) {
      ASSERT_TRUE(st.ok()) << st.error().message;
      EXPECT_EQ(d.to_string(), c.after);
    } else {
      ASSERT_FALSE(st.ok());
      EXPECT_EQ(st.error().message, c.error);
      EXPECT_EQ(d.to_string(), "héllo");
    }
  }
}

TEST(Document, CreateAndRead) {
  Document d("héllo 😀 中文");
  EXPECT_EQ(d.length(), 10u);
  EXPECT_EQ(d.to_string(), "héllo 😀 中文");
  EXPECT_EQ(d.slice(1, 7), "éllo 😀");
  EXPECT_EQ(d.slice(8, 100), "中文");
  EXPECT_EQ(d.slice(100, 200), "");
}

class DocumentRandom : public ::testing::TestWithParam<std::size_t> {};

TEST_P(DocumentRandom, MatchesReferenceUnderRandomEdits) {
  testing::Rng rng(GetParam());
  Document d(GetParam());
  std::vector<std::string> ref;
  for (int step = 0; step < 4000; ++step) {
    const std::uint64_t len = ref.size();
    ASSERT_EQ(d.length(), len);
    if (rng.below(3) != 0 || len == 0) {
      const std::uint64_t pos = rng.below(len + 1);
      const std::string text =
          testing::random_text(rng, rng.below(10) == 0 ? 1 + rng.below(200) : 1 + rng.below(3));
      d.insert(pos, text);
      auto cps = split_cps(text);
      ref.insert(ref.begin() + static_cast<std::ptrdiff_t>(pos), cps.begin(), cps.end());
    } else {
      const std::uint64_t pos = rng.below(len);
      const std::uint64_t n = 1 + rng.below(rng.below(10) == 0 ? 300 : 4);
      const std::uint64_t removed = d.erase(pos, n);
      const std::uint64_t expect = std::min<std::uint64_t>(n, len - pos);
      ASSERT_EQ(removed, expect);
      ref.erase(ref.begin() + static_cast<std::ptrdiff_t>(pos),
                ref.begin() + static_cast<std::ptrdiff_t>(pos + expect));
    }
    if (step % 97 == 0) {
      ASSERT_EQ(d.to_string(), join(ref));
      const std::uint64_t a = rng.below(ref.size() + 1);
      const std::uint64_t b = a + rng.below(50);
      ASSERT_EQ(d.slice(a, b), join(ref, a, b));
    }
  }
  EXPECT_EQ(d.to_string(), join(ref));
  EXPECT_EQ(d.byte_size(), join(ref).size());
}

INSTANTIATE_TEST_SUITE_P(ChunkSizes, DocumentRandom, ::testing::Values(8, 16, 64, 1024));

TEST(Document, ApplyRandomOpsMatchesStringApply) {
  testing::Rng rng(7);
  Document d(32);
  std::string ref;
  for (int i = 0; i < 2000; ++i) {
    const Op op = testing::random_op(rng, ref);
    ASSERT_TRUE(d.apply(op).ok());
    // Independent string-based reference.
    std::string next;
    std::size_t at = 0;
    for (const Component& c : op) {
      const std::string_view rest = std::string_view(ref).substr(at);
      const std::size_t b = utf8::byte_offset(rest, c.len);
      if (c.is_skip()) next.append(rest.substr(0, b));
      if (c.is_insert()) next.append(c.text);
      if (!c.is_insert()) at += b;
    }
    next.append(ref.substr(at));
    ref = std::move(next);
    ASSERT_EQ(d.to_string(), ref);
  }
}

// Local edits (a cursor that mostly moves by a few code points, sometimes
// jumps) exercise the located-chunk hint and the deferred Fenwick update:
// hits, moves to a neighbouring chunk, misses, and structural changes
// (splits, merges, removed chunks) in between. Also through apply() ops with
// several components, and with slice() interleaved (it moves the hint too).
TEST_P(DocumentRandom, LocalEditsMatchReference) {
  testing::Rng rng(GetParam() * 31 + 5);
  Document d(GetParam());
  std::vector<std::string> ref;
  std::uint64_t cursor = 0;
  for (int step = 0; step < 6000; ++step) {
    const std::uint64_t len = ref.size();
    ASSERT_EQ(d.length(), len);
    if (rng.below(50) == 0) {
      cursor = rng.below(len + 1);
    } else {
      const std::uint64_t delta = rng.below(9);
      cursor =
          delta < 4 ? (cursor > delta ? cursor - delta : 0) : std::min(len, cursor + delta - 4);
    }
    const std::uint64_t kind = rng.below(10);
    if (kind < 6 || len == 0) {
      const std::string text = testing::random_text(rng, rng.below(30) == 0 ? 40 : 1);
      if (rng.below(2) == 0) {
        d.insert(cursor, text);
      } else {
        ASSERT_TRUE(d.apply(make_insert(cursor, text)).ok());
      }
      auto cps = split_cps(text);
      ref.insert(ref.begin() + static_cast<std::ptrdiff_t>(cursor), cps.begin(), cps.end());
    } else if (kind < 9) {
      const std::uint64_t pos = std::min(cursor, len - 1);
      const std::uint64_t n =
          std::min<std::uint64_t>(1 + rng.below(rng.below(20) == 0 ? 200 : 3), len - pos);
      if (rng.below(2) == 0) {
        ASSERT_EQ(d.erase(pos, n), n);
      } else {
        ASSERT_TRUE(d.apply(make_remove(pos, n)).ok());
      }
      ref.erase(ref.begin() + static_cast<std::ptrdiff_t>(pos),
                ref.begin() + static_cast<std::ptrdiff_t>(pos + n));
      cursor = pos;
    } else {
      // Delete then insert two code points later, in one op.
      const std::uint64_t pos = std::min(cursor, len - 1);
      const std::uint64_t n = std::min<std::uint64_t>(1 + rng.below(4), len - pos);
      const std::uint64_t gap = std::min<std::uint64_t>(2, len - pos - n);
      Op op;
      if (pos > 0) op.push_back(Component::skip(pos));
      op.push_back(Component::del(n));
      if (gap > 0) op.push_back(Component::skip(gap));
      op.push_back(Component::insert("é!"));
      ASSERT_TRUE(d.apply(op).ok());
      ref.erase(ref.begin() + static_cast<std::ptrdiff_t>(pos),
                ref.begin() + static_cast<std::ptrdiff_t>(pos + n));
      ref.insert(ref.begin() + static_cast<std::ptrdiff_t>(pos + gap), {"é", "!"});
    }
    if (step % 13 == 0) {
      const std::uint64_t a = rng.below(ref.size() + 1);
      const std::uint64_t b = a + rng.below(30);
      ASSERT_EQ(d.slice(a, b), join(ref, a, b));
    }
    if (step % 211 == 0) {
      ASSERT_EQ(d.to_string(), join(ref));
    }
  }
  EXPECT_EQ(d.to_string(), join(ref));
  // A too-long op fails and changes nothing, wherever the hint is.
  const std::string before = d.to_string();
  EXPECT_EQ(d.apply(make_insert(ref.size() + 1, "x")).error().message,
            "The op is too long for this document");
  EXPECT_EQ(d.to_string(), before);
}

TEST(Document, LargeInsertSpansChunks) {
  std::string big;
  for (int i = 0; i < 5000; ++i) big += (i % 7 == 0) ? "😀" : "a";
  Document d(64);
  d.insert(0, "xy");
  d.insert(1, big);
  EXPECT_EQ(d.to_string(), "x" + big + "y");
  EXPECT_GT(d.chunk_count(), 50u);
  d.erase(1, utf8::count(big));
  EXPECT_EQ(d.to_string(), "xy");
  EXPECT_LT(d.chunk_count(), 3u);
}

}  // namespace
}  // namespace office::ot
