#include "orchestrator/core/strict_json.h"

#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace saga::core {
namespace {

using Json = nlohmann::json;

// Longest path quoted in a duplicate-key message; a deeper path keeps its
// end, which is the part that locates the key.
constexpr size_t kMaxQuotedPath = 2 * kMaxQuotedBytes;

// `text` cut to at most `limit` bytes on a UTF-8 character boundary, with
// "..." when cut.
std::string Excerpt(std::string text, size_t limit) {
  if (text.size() <= limit) return text;
  size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;
  }
  text.resize(end);
  return text + "...";
}

// A key as quoted in a message: NUL characters (PostgreSQL refuses them,
// and they end C strings in logs) are written as JSON would.
std::string QuoteKey(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '\0') {
      out += "\\u0000";
    } else {
      out += c;
    }
  }
  return Excerpt(std::move(out), kMaxQuotedBytes);
}

// Builds the document like nlohmann's own DOM parser, and stops at the
// first key an object already has. Iterative: nesting costs heap, not stack.
class StrictSax {
 public:
  bool null() { return Put(Json(nullptr)); }
  bool boolean(bool value) { return Put(Json(value)); }
  bool number_integer(Json::number_integer_t value) { return Put(Json(value)); }
  bool number_unsigned(Json::number_unsigned_t value) {
    return Put(Json(value));
  }
  bool number_float(Json::number_float_t value, const Json::string_t&) {
    return Put(Json(value));
  }
  bool string(Json::string_t& value) { return Put(Json(std::move(value))); }
  bool binary(Json::binary_t& value) {
    return Put(Json::binary(std::move(value)));
  }
  bool start_object(std::size_t) { return Open(Json::object()); }
  bool start_array(std::size_t) { return Open(Json::array()); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }

  bool key(Json::string_t& key) {
    Frame& top = open_.back();
    if (top.value->contains(key)) {
      duplicate_ = "has the key '" + QuoteKey(key) + "' twice";
      if (const std::string at = ContainerPath(); !at.empty()) {
        duplicate_ += " in " + at;
      }
      return false;
    }
    top.key = std::move(key);
    return true;
  }

  template <typename Exception>
  bool parse_error(std::size_t, const std::string&, const Exception& error) {
    parse_error_ = error.what();
    return false;
  }

  Json TakeRoot() { return std::move(root_); }
  const std::string& duplicate() const { return duplicate_; }
  const std::string& parse_error_message() const { return parse_error_; }

 private:
  // An object or array being filled, and (objects) the key of the member
  // being read.
  struct Frame {
    Json* value;
    std::string key;
  };

  // Where the next value goes. Pointers into the tree stay valid: a
  // container is only appended to while it is the innermost open one.
  Json* Place(Json value) {
    if (open_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    Frame& top = open_.back();
    if (top.value->is_array()) {
      top.value->push_back(std::move(value));
      return &top.value->back();
    }
    Json& slot = (*top.value)[top.key];
    slot = std::move(value);
    return &slot;
  }

  bool Put(Json value) {
    Place(std::move(value));
    return true;
  }

  bool Open(Json container) {
    open_.push_back({Place(std::move(container)), {}});
    return true;
  }

  bool Close() {
    open_.pop_back();
    return true;
  }

  // Path of the innermost open container ("" for the root): object members
  // as `.key`, array elements as `[i]`.
  std::string ContainerPath() const {
    std::string path;
    for (size_t i = 0; i + 1 < open_.size(); ++i) {
      const Frame& frame = open_[i];
      if (frame.value->is_array()) {
        path += "[" + std::to_string(frame.value->size() - 1) + "]";
      } else {
        if (!path.empty()) path += ".";
        path += QuoteKey(frame.key);
      }
    }
    if (path.size() > kMaxQuotedPath) {
      size_t from = path.size() - kMaxQuotedPath;
      while (from < path.size() &&
             (static_cast<unsigned char>(path[from]) & 0xC0) == 0x80) {
        ++from;
      }
      path = "..." + path.substr(from);
    }
    return path;
  }

  Json root_;
  std::vector<Frame> open_;
  std::string duplicate_;
  std::string parse_error_;
};

}  // namespace

absl::StatusOr<Json> ParseStrictJson(std::string_view text,
                                     std::string_view what) {
  // nlohmann's lexer takes a NUL byte for the end of the input and would
  // ignore whatever follows it; JSON text never holds one unescaped.
  if (const size_t nul = text.find('\0'); nul != std::string_view::npos) {
    return absl::InvalidArgumentError(
        std::string(what) + " is not valid JSON: a NUL byte at offset " +
        std::to_string(nul) + " (inside a string, write it as \\u0000)");
  }
  StrictSax sax;
  bool parsed = false;
  try {
    parsed = Json::sax_parse(text.begin(), text.end(), &sax);
  } catch (const Json::exception& e) {
    // The SAX interface reports errors through parse_error(); this only
    // guards against a library version that throws instead.
    return absl::InvalidArgumentError(
        std::string(what) +
        " is not valid JSON: " + Excerpt(e.what(), kMaxQuotedBytes));
  }
  if (!sax.duplicate().empty()) {
    return absl::InvalidArgumentError(std::string(what) + " " +
                                      sax.duplicate());
  }
  if (!parsed) {
    return absl::InvalidArgumentError(
        std::string(what) + " is not valid JSON: " +
        Excerpt(sax.parse_error_message(), kMaxQuotedBytes));
  }
  return sax.TakeRoot();
}

}  // namespace saga::core
