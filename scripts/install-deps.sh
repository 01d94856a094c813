#!/usr/bin/env bash
# Installs the Debian 12 packages needed to build, test and demo the saga
# orchestrator. A quick no-op when they are all present; runs apt-get update
# only when something has to be installed; uses sudo when not root.
set -euo pipefail

PACKAGES=(
  # Toolchain.
  build-essential cmake ninja-build pkg-config git ca-certificates
  clang-format
  # Fuzzing (scripts/fuzz.sh): clang with libFuzzer and the sanitizer
  # runtimes, which --no-install-recommends would leave out.
  clang libclang-rt-14-dev
  # gRPC and protobuf (the grpc compiler plugin is required by gRPC's CMake
  # config even for C++ only).
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  # Libraries.
  libpqxx-dev libspdlog-dev libfmt-dev libboost-dev libboost-system-dev
  libboost-program-options-dev nlohmann-json3-dev libyaml-cpp-dev
  libcli11-dev
  # TLS files checked and token hashes (SHA-256) computed with libcrypto;
  # gRPC pulls libssl-dev already, named here because we link it directly.
  libssl-dev
  # The retention job's archive files are gzip (zlib); gRPC pulls
  # zlib1g-dev already, named here because we link it directly.
  zlib1g-dev
  # Metrics: Prometheus client with its HTTP endpoint (pull).
  prometheus-cpp-dev
  # saga-orchestrator's allocator (tcmalloc_minimal; SAGA_TCMALLOC).
  libgoogle-perftools-dev
  # Tests. grpc-proto: the standard health and reflection protos the
  # integration tests' generic gRPC client is generated from.
  libgtest-dev libgmock-dev grpc-proto
  # The security tests make their own CA and certificates with openssl.
  openssl
  # PostgreSQL 15 server and client, for tests and the demo.
  postgresql
  # Automatic failover (scripts/pg-ha.sh, ha_failover_itest): Patroni 3.0
  # and a three-member etcd 3.4 for its leader lock.
  patroni etcd-server
  # The web console's browser tests (tests/console): a real headless
  # browser, driven by the npm package playwright-core, which downloads none.
  chromium
)
# node and npm run the browser tests' driver; Debian's only when no node is
# on the PATH (a newer one installed otherwise is kept).
command -v node >/dev/null || PACKAGES+=(nodejs npm)

# Packages from PACKAGES that dpkg does not report as installed.
missing=()
for package in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null ||
    true)
  [[ $status == installed ]] || missing+=("$package")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#PACKAGES[@]} packages are installed"
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null ||
    { echo "install-deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi

echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y \
  --no-install-recommends "${missing[@]}"
