#include "orchestrator/config/dsn.h"

#include <cctype>
#include <string_view>
#include <utility>
#include <vector>

namespace saga::config {
namespace {

constexpr char kMask[] = "*****";

using Span = std::pair<size_t, size_t>;  // [begin, end) of a password

bool IsUri(std::string_view dsn) {
  return dsn.starts_with("postgresql://") || dsn.starts_with("postgres://");
}

std::vector<Span> UriPasswords(std::string_view dsn) {
  std::vector<Span> spans;
  const size_t authority = dsn.find("://") + 3;
  const size_t authority_end =
      std::min(dsn.find('/', authority), dsn.find('?', authority));
  const size_t at = dsn.substr(0, authority_end).rfind('@');
  if (at != std::string_view::npos && at >= authority) {
    const size_t colon = dsn.substr(0, at).find(':', authority);
    if (colon != std::string_view::npos) spans.emplace_back(colon + 1, at);
  }
  const size_t query = dsn.find('?', authority);
  if (query == std::string_view::npos) return spans;
  size_t begin = query + 1;
  while (begin < dsn.size()) {
    size_t end = dsn.find('&', begin);
    if (end == std::string_view::npos) end = dsn.size();
    const std::string_view parameter = dsn.substr(begin, end - begin);
    if (parameter.starts_with("password=")) {
      spans.emplace_back(begin + sizeof("password=") - 1, end);
    }
    begin = end + 1;
  }
  return spans;
}

// libpq's keyword/value syntax: key = value, the value either unquoted (up
// to whitespace) or in single quotes; backslash escapes in both.
std::vector<Span> KeywordPasswords(std::string_view dsn) {
  std::vector<Span> spans;
  size_t i = 0;
  auto skip_space = [&] {
    while (i < dsn.size() && std::isspace(static_cast<unsigned char>(dsn[i])))
      ++i;
  };
  while (true) {
    skip_space();
    if (i >= dsn.size()) break;
    const size_t key_begin = i;
    while (i < dsn.size() && dsn[i] != '=' &&
           !std::isspace(static_cast<unsigned char>(dsn[i])))
      ++i;
    const std::string_view key = dsn.substr(key_begin, i - key_begin);
    skip_space();
    if (i < dsn.size() && dsn[i] == '=') ++i;
    skip_space();
    const bool quoted = i < dsn.size() && dsn[i] == '\'';
    if (quoted) ++i;
    const size_t value_begin = i;
    while (i < dsn.size()) {
      if (dsn[i] == '\\' && i + 1 < dsn.size()) {
        i += 2;
        continue;
      }
      if (quoted ? dsn[i] == '\''
                 : std::isspace(static_cast<unsigned char>(dsn[i])) != 0) {
        break;
      }
      ++i;
    }
    if (key == "password") spans.emplace_back(value_begin, i);
    if (quoted && i < dsn.size()) ++i;  // the closing quote
  }
  return spans;
}

std::vector<Span> Passwords(std::string_view dsn) {
  return IsUri(dsn) ? UriPasswords(dsn) : KeywordPasswords(dsn);
}

std::string PercentEncode(const std::string& text) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kDigits[c >> 4];
      out += kDigits[c & 0xf];
    }
  }
  return out;
}

}  // namespace

std::string MaskDsn(const std::string& dsn) {
  std::string masked;
  size_t copied = 0;
  for (const auto& [begin, end] : Passwords(dsn)) {
    masked += dsn.substr(copied, begin - copied);
    masked += kMask;
    copied = end;
  }
  return masked + dsn.substr(copied);
}

bool DsnHasPassword(const std::string& dsn) { return !Passwords(dsn).empty(); }

std::string DsnWithPassword(const std::string& dsn,
                            const std::string& password) {
  if (IsUri(dsn)) {
    const bool has_query =
        dsn.find('?', dsn.find("://") + 3) != std::string::npos;
    return dsn + (has_query ? "&" : "?") +
           "password=" + PercentEncode(password);
  }
  std::string quoted = "'";
  for (char c : password) {
    if (c == '\'' || c == '\\') quoted += '\\';
    quoted += c;
  }
  quoted += "'";
  return dsn + (dsn.empty() ? "" : " ") + "password=" + quoted;
}

}  // namespace saga::config
