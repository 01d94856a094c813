#include "orchestrator/console/security_headers.h"

#include <array>

namespace saga::console {
namespace {

constexpr std::array<Header, 4> kHeaders = {{
    {"Content-Security-Policy",
     "default-src 'self'; script-src 'self'; style-src 'self'; "
     "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
     "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},
}};

}  // namespace

std::span<const Header> SecurityHeaders() { return kHeaders; }

}  // namespace saga::console
