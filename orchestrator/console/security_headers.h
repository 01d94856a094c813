// The headers every console response carries, whatever it is (page, API
// answer, error): a Content-Security-Policy that allows only the console's
// own scripts, styles and API (no inline script, no framing), no MIME
// sniffing, no referrer. API answers are not cached (they may hold saga
// data): kApiCacheControl.
#pragma once

#include <span>
#include <string_view>
#include <utility>

namespace saga::console {

using Header = std::pair<std::string_view, std::string_view>;

std::span<const Header> SecurityHeaders();

inline constexpr std::string_view kApiCacheControl = "no-store";
// Pages: the browser revalidates, so a new binary's pages show at once.
inline constexpr std::string_view kStaticCacheControl = "no-cache";

}  // namespace saga::console
