#include "security/tokens.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <set>

namespace saga::security {
namespace {

using Digest = std::array<uint8_t, 32>;

Digest Sha256(std::string_view data) {
  Digest digest{};
  unsigned int length = 0;
  // Only fails on allocation failure inside OpenSSL; a zero digest then
  // matches no configured hash, so the token is refused.
  EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(),
             nullptr);
  return digest;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<Digest> ParseHexDigest(std::string_view hex) {
  Digest digest{};
  if (hex.size() != 2 * digest.size()) return std::nullopt;
  for (size_t i = 0; i < digest.size(); ++i) {
    const int high = HexValue(hex[2 * i]);
    const int low = HexValue(hex[2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    digest[i] = static_cast<uint8_t>(high * 16 + low);
  }
  return digest;
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) {
      return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace

const char* RoleName(Role role) {
  return role == Role::kOperator ? "operator" : "submitter";
}

absl::StatusOr<Role> ParseRole(std::string_view name) {
  if (name == "submitter") return Role::kSubmitter;
  if (name == "operator") return Role::kOperator;
  return absl::InvalidArgumentError("unknown role '" + std::string(name) +
                                    "' (expected submitter or operator)");
}

std::string Sha256Hex(std::string_view data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (uint8_t byte : Sha256(data)) {
    hex += kDigits[byte >> 4];
    hex += kDigits[byte & 0xf];
  }
  return hex;
}

absl::StatusOr<TokenTable> TokenTable::Create(
    const std::vector<TokenEntry>& entries) {
  TokenTable table;
  std::set<std::string> names;
  std::set<Digest> hashes;
  for (const TokenEntry& entry : entries) {
    if (entry.name.empty()) {
      return absl::InvalidArgumentError("a token has no name");
    }
    const std::string which = "token '" + entry.name + "'";
    std::optional<Digest> hash = ParseHexDigest(entry.sha256_hex);
    if (!hash) {
      return absl::InvalidArgumentError(
          which + ": sha256 must be 64 hex digits (the SHA-256 of the token)");
    }
    if (!names.insert(entry.name).second) {
      return absl::InvalidArgumentError(which + " is configured twice");
    }
    if (!hashes.insert(*hash).second) {
      return absl::InvalidArgumentError(which +
                                        " has the same hash as another token");
    }
    table.entries_.push_back({*hash, {entry.name, entry.role}});
  }
  return table;
}

std::optional<Principal> TokenTable::Find(std::string_view token) const {
  const Digest presented = Sha256(token);
  const Entry* match = nullptr;
  // Every entry is compared, so the time taken does not tell which one (if
  // any) matched.
  for (const Entry& entry : entries_) {
    const bool equal = CRYPTO_memcmp(entry.hash.data(), presented.data(),
                                     presented.size()) == 0;
    if (equal) match = &entry;
  }
  if (match == nullptr) return std::nullopt;
  return match->principal;
}

std::optional<std::string_view> ParseBearer(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size() ||
      !EqualsIgnoringCase(authorization.substr(0, kScheme.size()), kScheme)) {
    return std::nullopt;
  }
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return std::nullopt;
  return token;
}

}  // namespace saga::security
