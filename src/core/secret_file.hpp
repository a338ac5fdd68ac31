#pragma once

#include <functional>
#include <optional>
#include <string>

#include "core/result.hpp"

namespace office {

/// The contents of the secret file at `path` (a signing key, ...), creating
/// it with `generate()` first when it does not exist.
///
/// Creation never exposes the secret: it is written to a fresh temporary file
/// beside `path`, opened with O_CREAT|O_EXCL and mode 0600 (set again with
/// fchmod, so the umask cannot loosen it), fsync'ed, and only then linked to
/// `path` with link(2), which fails if the name exists. So readers never see
/// a half-written file, and when several processes race, exactly one file
/// wins and every caller returns its contents (the losers' secrets are
/// discarded). The directory is fsync'ed after the link.
///
/// An existing file is read as it is (symbolic links are followed: secret
/// mounts use them); if it is readable or writable by group or others it is
/// tightened to 0600 and a warning is logged. Errors: kUnavailable naming the
/// path (missing directory, permissions, a file larger than 1 MiB).
/// Thread-safe and safe across processes.
Result<std::string> read_or_create_secret_file(const std::string& path,
                                               const std::function<std::string()>& generate);

/// Reads a secret file like read_or_create_secret_file, or nullopt when it
/// does not exist (nothing is created).
Result<std::optional<std::string>> read_secret_file(const std::string& path);

}  // namespace office
