#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace office::ot {

/// Why an OT function refused its input. `message` mirrors the text of the
/// error thrown by the npm package `ot-text-unicode` where one exists (for
/// example "Op has a trailing skip"), so that clients see the same wording.
struct OtError {
  std::string message;
};

/// Either a value of T or an OtError. The OT module keeps its own tiny result
/// type so that it depends on nothing but the standard library; adapters map
/// OtError to office::Error (invalid input) at the module boundary.
/// Accessing value() of an error (or error() of a value) is a programming
/// error (asserts in debug builds).
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}        // NOLINT(implicit)
  Result(OtError error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT(implicit)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const OtError& error() const& {
    assert(!ok());
    return std::get<1>(v_);
  }
  OtError&& error() && {
    assert(!ok());
    return std::get<1>(std::move(v_));
  }

 private:
  std::variant<T, OtError> v_;
};

/// Success, or an OtError.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(OtError error) : error_(std::move(error)), ok_(false) {}  // NOLINT(implicit)

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const OtError& error() const& {
    assert(!ok_);
    return error_;
  }

 private:
  OtError error_;
  bool ok_ = true;
};

}  // namespace office::ot
