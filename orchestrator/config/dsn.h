// PostgreSQL connection strings, URI ("postgresql://user:pw@host/db?k=v")
// or keyword/value ("host=h password='pw'"): hiding and adding the
// password. Pure.
#pragma once

#include <string>

namespace saga::config {

// The DSN with every password in it (the URI's user:password, a password
// query parameter or keyword) replaced by "*****", for logs and
// --print-config.
std::string MaskDsn(const std::string& dsn);

bool DsnHasPassword(const std::string& dsn);

// `dsn` with `password` added: a query parameter of a URI (percent-encoded)
// or a quoted password= keyword. REQUIRES: !DsnHasPassword(dsn).
std::string DsnWithPassword(const std::string& dsn,
                            const std::string& password);

}  // namespace saga::config
