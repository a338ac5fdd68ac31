#include "core/secret_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "core/ids.hpp"

namespace office {
namespace {

namespace fs = std::filesystem;

class SecretFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("secret-" + new_id());
    fs::create_directories(dir_);
    path_ = (dir_ / "jwt.key").string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  unsigned mode() const {
    struct stat st {};
    EXPECT_EQ(::stat(path_.c_str(), &st), 0);
    return st.st_mode & 0777;
  }
  std::size_t files_in_dir() const {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir_), {}));
  }
  fs::path dir_;
  std::string path_;
};

TEST_F(SecretFile, CreatedOnceWithMode0600WhateverTheUmask) {
  mode_t old = ::umask(0);  // the most permissive umask: the file must still be 0600
  auto a = read_or_create_secret_file(path_, [] { return std::string("first-secret\n"); });
  ::umask(old);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(*a, "first-secret\n");
  EXPECT_EQ(mode(), 0600u);
  int calls = 0;
  auto b = read_or_create_secret_file(path_, [&] {
    ++calls;
    return std::string("second-secret\n");
  });
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, "first-secret\n");  // read, never replaced
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(files_in_dir(), 1u);  // no temporary file left behind
}

TEST_F(SecretFile, LooseModeIsTightened) {
  std::ofstream(path_) << "old-key";
  ::chmod(path_.c_str(), 0644);
  auto r = read_or_create_secret_file(path_, [] { return std::string("new"); });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "old-key");
  EXPECT_EQ(mode(), 0600u);
}

TEST_F(SecretFile, ErrorsNameThePath) {
  auto r = read_or_create_secret_file((dir_ / "no-such-dir" / "k").string(),
                                      [] { return std::string("x"); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("no-such-dir"), std::string::npos);
  auto d = read_or_create_secret_file(dir_.string(), [] { return std::string("x"); });
  EXPECT_FALSE(d.ok());  // a directory is not a secret file
}

// Processes that start at once (two servers, or a server and `keys rotate`)
// must all end up with the same key: the one whose link(2) won.
TEST_F(SecretFile, ConcurrentProcessesAgreeOnOneSecret) {
  constexpr int kProcs = 6;
  int fds[kProcs][2];
  pid_t pids[kProcs];
  for (int i = 0; i < kProcs; ++i) {
    ASSERT_EQ(::pipe(fds[i]), 0);
    pids[i] = ::fork();
    ASSERT_GE(pids[i], 0);
    if (pids[i] == 0) {
      auto r = read_or_create_secret_file(path_, [i] {
        // Every process is inside its window at the same time.
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        return "secret-of-process-" + std::to_string(i);
      });
      std::string out = r.ok() ? *r : "error: " + r.error().message;
      ssize_t n = ::write(fds[i][1], out.data(), out.size());
      ::_exit(n == static_cast<ssize_t>(out.size()) ? 0 : 1);
    }
    ::close(fds[i][1]);
  }
  std::set<std::string> seen;
  for (int i = 0; i < kProcs; ++i) {
    std::string got;
    char buf[256];
    ssize_t n;
    while ((n = ::read(fds[i][0], buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
    ::close(fds[i][0]);
    int status = 0;
    ::waitpid(pids[i], &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_EQ(got.rfind("secret-of-process-", 0), 0u) << got;
    seen.insert(got);
  }
  EXPECT_EQ(seen.size(), 1u);
  std::ifstream in(path_);
  std::string on_disk((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(on_disk, *seen.begin());
  EXPECT_EQ(mode(), 0600u);
  EXPECT_EQ(files_in_dir(), 1u);
}

TEST_F(SecretFile, ConcurrentThreadsAgreeOnOneSecret) {
  std::vector<std::string> got(8);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < got.size(); ++i)
    threads.emplace_back([&, i] {
      auto r = read_or_create_secret_file(path_, [i] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return "thread-" + std::to_string(i);
      });
      got[i] = r.ok() ? *r : "error";
    });
  for (auto& t : threads) t.join();
  for (const auto& g : got) EXPECT_EQ(g, got[0]);
  EXPECT_EQ(got[0].rfind("thread-", 0), 0u);
}

}  // namespace
}  // namespace office
