//===- Status.h - runtime error values ---------------------------*- C++ -*-===//
//
// Errors are values in the runtime: a code plus a message, returned, never thrown, never
// exit()ed. The C API turns them into precis_status handles.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_RUNTIME_STATUS_H
#define PRECIS_RUNTIME_STATUS_H

#include <string>
#include <utility>

namespace precis::rt {

enum class StatusCode {
  Ok = 0,
  InvalidArgument = 1,  // bad caller input: shapes, dtypes, names
  InvalidArtifact = 2,  // a corrupt, truncated or incompatible artifact
  NotFound = 3,         // a file, input, output or parameter that does not exist
  Unimplemented = 4,    // a kernel or dtype combination this backend lacks
  Internal = 5,         // a bug or a failing backend library (oneDNN, CUDA)
  Unavailable = 6,      // a missing device or driver
  IoError = 7,          // reading or writing files
  NonFinite = 8,        // check-numerics: an op produced a NaN or an infinity
};

class [[nodiscard]] Status {
public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return Status(); }

  bool isOk() const { return code_ == StatusCode::Ok; }
  explicit operator bool() const { return isOk(); }
  StatusCode code() const { return code_; }
  const std::string &message() const { return message_; }

private:
  StatusCode code_ = StatusCode::Ok;
  std::string message_;
};

inline Status invalidArgument(std::string m) { return {StatusCode::InvalidArgument, std::move(m)}; }
inline Status invalidArtifact(std::string m) { return {StatusCode::InvalidArtifact, std::move(m)}; }
inline Status unimplemented(std::string m) { return {StatusCode::Unimplemented, std::move(m)}; }
inline Status internalError(std::string m) { return {StatusCode::Internal, std::move(m)}; }
inline Status notFound(std::string m) { return {StatusCode::NotFound, std::move(m)}; }
inline Status unavailable(std::string m) { return {StatusCode::Unavailable, std::move(m)}; }
inline Status ioError(std::string m) { return {StatusCode::IoError, std::move(m)}; }
inline Status nonFinite(std::string m) { return {StatusCode::NonFinite, std::move(m)}; }

/// `s` with `context` and ": " prepended to its message; OK stays OK.
inline Status withContext(const Status &s, const std::string &context) {
  return s.isOk() ? s : Status(s.code(), context + ": " + s.message());
}

} // namespace precis::rt

/// Returns early from the enclosing function with `expr`'s status when it is an error.
#define PRECIS_RETURN_IF_ERROR(expr)                                                            \
  do {                                                                                          \
    ::precis::rt::Status precis_status_ = (expr);                                               \
    if (!precis_status_.isOk())                                                                 \
      return precis_status_;                                                                    \
  } while (0)

#endif // PRECIS_RUNTIME_STATUS_H
