#include "core/log_sink.hpp"

#include <poll.h>
#include <spdlog/pattern_formatter.h>
#include <unistd.h>

#include <cerrno>

#include "core/log.hpp"

namespace office::log {

BufferedFdSink::BufferedFdSink(int fd, Limits limits)
    : fd_(fd), limits_(limits), formatter_(make_json_formatter()) {
  active_.reserve(limits_.wake_bytes * 2);
  writing_.reserve(limits_.wake_bytes * 2);
  writer_ = std::thread([this] { run(); });
}

BufferedFdSink::~BufferedFdSink() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  writer_.join();
  std::lock_guard wlock(write_mu_);
  write_out();
}

void BufferedFdSink::log(const spdlog::details::log_msg& msg) {
  std::lock_guard lock(mu_);
  formatted_.clear();
  formatter_->format(msg, formatted_);
  if (active_.size() + formatted_.size() > limits_.max_bytes) {
    ++dropped_;
    return;
  }
  const bool was_below = active_.size() < limits_.wake_bytes;
  active_.append(formatted_.data(), formatted_.size());
  if (was_below && active_.size() >= limits_.wake_bytes) cv_.notify_one();
}

void BufferedFdSink::flush() {
  std::unique_lock wlock(write_mu_, std::try_to_lock);
  if (wlock.owns_lock()) {
    write_out();
    return;
  }
  // The writer is mid-write (possibly blocked on a stalled reader): it takes
  // these lines next. Waiting here would stall the logging thread too.
  {
    std::lock_guard lock(mu_);
    flush_requested_ = true;
  }
  cv_.notify_one();
}

void BufferedFdSink::set_pattern(const std::string& pattern) {
  set_formatter(std::make_unique<spdlog::pattern_formatter>(pattern));
}

void BufferedFdSink::set_formatter(std::unique_ptr<spdlog::formatter> formatter) {
  std::lock_guard lock(mu_);
  formatter_ = std::move(formatter);
}

std::uint64_t BufferedFdSink::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void BufferedFdSink::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, limits_.interval, [this] {
      return stop_ || flush_requested_ || active_.size() >= limits_.wake_bytes;
    });
    if (active_.empty() && dropped_ == 0) continue;
    lock.unlock();
    {
      std::lock_guard wlock(write_mu_);
      write_out();
    }
    lock.lock();
  }
}

void BufferedFdSink::write_out() {
  {
    std::lock_guard lock(mu_);
    flush_requested_ = false;
    writing_.swap(active_);
    if (dropped_ > 0) {
      // Reported first: the lines were lost before the ones now buffered.
      const std::string text = "log: dropped " + std::to_string(dropped_) +
                               " lines because the log output could not keep up";
      dropped_ = 0;
      spdlog::details::log_msg note("office", spdlog::level::warn, text);
      formatted_.clear();
      formatter_->format(note, formatted_);
      writing_.insert(0, formatted_.data(), formatted_.size());
    }
  }
  std::size_t done = 0;
  while (done < writing_.size()) {
    const ssize_t n = ::write(fd_, writing_.data() + done, writing_.size() - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};  // an inherited non-blocking descriptor
      if (::poll(&p, 1, 1000) <= 0) break;
    } else {
      break;  // closed or broken output: nowhere left to report it
    }
  }
  writing_.clear();
}

}  // namespace office::log
