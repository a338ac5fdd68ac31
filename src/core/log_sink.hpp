#pragma once

#include <spdlog/details/log_msg.h>
#include <spdlog/sinks/sink.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace office::log {

/// A sink that never makes the logging thread wait for the disk or a pipe:
/// formatted lines are appended to a buffer in memory, and a writer thread
/// writes it to `fd` once it passes `wake_bytes` or `interval` has passed.
/// flush() writes synchronously (the logger flushes on warnings and errors,
/// the lines that matter after a crash), unless the writer thread is in the
/// middle of a write: then it only wakes the writer, which writes them next. If the writer cannot
/// keep up and `max_bytes` are waiting, further lines are dropped and counted, and the next write
/// starts with a warning line saying how many were lost: a slow log reader costs log lines, never
/// request latency or unbounded memory.
class BufferedFdSink final : public spdlog::sinks::sink {
 public:
  struct Limits {
    std::size_t wake_bytes = 64 * 1024;
    std::size_t max_bytes = 16 * 1024 * 1024;
    std::chrono::milliseconds interval{200};
  };
  explicit BufferedFdSink(int fd) : BufferedFdSink(fd, Limits{}) {}
  BufferedFdSink(int fd, Limits limits);
  ~BufferedFdSink() override;  // writes the rest; does not close fd
  BufferedFdSink(const BufferedFdSink&) = delete;
  BufferedFdSink& operator=(const BufferedFdSink&) = delete;

  void log(const spdlog::details::log_msg& msg) override;
  void flush() override;
  void set_pattern(const std::string& pattern) override;
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override;

  /// Lines dropped since the last write reported them.
  std::uint64_t dropped() const;

 private:
  void run();
  void write_out();  // caller holds write_mu_

  const int fd_;
  const Limits limits_;
  mutable std::mutex mu_;  // guards everything below except writing_
  std::condition_variable cv_;
  std::unique_ptr<spdlog::formatter> formatter_;
  spdlog::memory_buf_t formatted_;
  std::string active_;
  std::uint64_t dropped_ = 0;
  bool stop_ = false;
  bool flush_requested_ = false;  // a flush() found the writer busy
  std::mutex write_mu_;           // one writer at a time, so lines stay in order
  std::string writing_;
  std::thread writer_;
};

}  // namespace office::log
