// Status: the project's one error type (after RocksDB's Status). Every layer turns the
// exceptions of the library it wraps into a Status at its adapter.
#pragma once

#include <string>
#include <utility>

namespace reco {

class [[nodiscard]] Status {
 public:
  // Numeric values are part of the wire protocol (api/proto mirrors them): append only.
  enum class Code : int {
    kOk = 0,
    kInvalidArgument = 1,      // the caller sent something wrong; message names the field
    kNotFound = 2,             // unknown collection, space, item or plugin
    kAlreadyExists = 3,        // e.g. a collection name in use
    kIOError = 4,              // disk or socket failure
    kCorruption = 5,           // stored data that does not decode
    kInternal = 6,             // a bug or an unexpected library failure
    kUnavailable = 7,          // overloaded or shutting down; retry later
    kOutOfRange = 8,           // a number outside its limit (k, frame size ...)
    kPluginError = 9,          // an embedding plugin reported a failure
    kFailedPrecondition = 10,  // the request is valid but not in the current state
  };

  Status() = default;

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string m) {
    return Status(Code::kInvalidArgument, std::move(m));
  }
  static Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
  static Status AlreadyExists(std::string m) { return Status(Code::kAlreadyExists, std::move(m)); }
  static Status IOError(std::string m) { return Status(Code::kIOError, std::move(m)); }
  static Status Corruption(std::string m) { return Status(Code::kCorruption, std::move(m)); }
  static Status Internal(std::string m) { return Status(Code::kInternal, std::move(m)); }
  static Status Unavailable(std::string m) { return Status(Code::kUnavailable, std::move(m)); }
  static Status OutOfRange(std::string m) { return Status(Code::kOutOfRange, std::move(m)); }
  static Status PluginError(std::string m) { return Status(Code::kPluginError, std::move(m)); }
  static Status FailedPrecondition(std::string m) {
    return Status(Code::kFailedPrecondition, std::move(m));
  }

  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == Code::kOk; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "NotFound: collection 'shop' does not exist"
  std::string ToString() const;
  static const char* CodeName(Code code);

  // Prefixes the message with context: "line 7: " + message.
  Status WithContext(const std::string& context) const {
    return ok() ? *this : Status(code_, context + ": " + message_);
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

}  // namespace reco

// Returns early from the enclosing function when `expr` is not OK.
#define RECO_RETURN_IF_ERROR(expr)       \
  do {                                   \
    ::reco::Status _reco_st = (expr);    \
    if (!_reco_st.ok()) return _reco_st; \
  } while (0)
