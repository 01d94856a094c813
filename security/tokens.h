// Bearer tokens and the roles they carry. The server never stores a token:
// it is configured with the SHA-256 of each one (hex), a name (the
// principal recorded with the sagas it starts) and a role. A presented token
// is hashed and compared with every configured hash in constant time.
//
// Tokens should be long random strings (e.g. `openssl rand -hex 32`): a
// plain hash protects them only because they cannot be guessed.
//
// Thread-safety: a TokenTable is immutable after Create; Find may be called
// from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace saga::security {

enum class Role {
  // May start sagas and read and await the sagas it started.
  kSubmitter,
  // May do everything, including cancel and the operator repairs.
  kOperator,
};

// "submitter" / "operator".
const char* RoleName(Role role);
absl::StatusOr<Role> ParseRole(std::string_view name);

// Lower-case hex SHA-256 of `data` (what `sha256sum` prints).
std::string Sha256Hex(std::string_view data);

// One configured token.
struct TokenEntry {
  std::string name;
  Role role = Role::kSubmitter;
  std::string sha256_hex;  // 64 hex digits, either case

  bool operator==(const TokenEntry&) const = default;
};

// Who presented a known token.
struct Principal {
  std::string name;
  Role role = Role::kSubmitter;
};

class TokenTable {
 public:
  // An empty table: no token is known (authentication is off).
  TokenTable() = default;

  // InvalidArgument naming the entry for an empty name, a hash that is not
  // 64 hex digits, or a name or hash given twice.
  static absl::StatusOr<TokenTable> Create(
      const std::vector<TokenEntry>& entries);

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }

  // The principal whose hash matches SHA-256(token), or nullopt. Takes the
  // same time whichever entry matches, if any.
  std::optional<Principal> Find(std::string_view token) const;

 private:
  struct Entry {
    std::array<uint8_t, 32> hash;
    Principal principal;
  };
  std::vector<Entry> entries_;
};

// The token of an `authorization` header value "Bearer <token>" (scheme
// case-insensitive); nullopt for another scheme or an empty token.
std::optional<std::string_view> ParseBearer(std::string_view authorization);

}  // namespace saga::security
