#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine for perfscope: the packages the build and the tests
# need, Debian source packages (deb-src), tracefs, and the unprivileged test user. Run as
# root (or through sudo). Idempotent: a second run only checks.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  exec sudo -E bash "$0" "$@"
fi

export DEBIAN_FRONTEND=noninteractive
packages=(
  # the BPF side of capture: clang compiles it, libbpf-sys builds libbpf against libelf/zlib
  clang llvm libelf-dev zlib1g-dev pkg-config make gcc g++
  # fixtures, tests and recipes
  binutils python3 curl procps util-linux dpkg-dev
  # the JVM agent (built with Maven by the runner's build script) and the JVM fixtures
  openjdk-17-jdk-headless maven
  # the HTML report test renders the page in headless Chromium
  chromium
  # peers measured by the benchmarks
  strace linux-perf bpftrace
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
src=/etc/apt/sources.list.d/perfscope-src.sources
if ! grep -rqs '^Types: deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  cat > "$src" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  need_update=1
fi
if [ ${#missing[@]} -gt 0 ] || [ -n "${need_update:-}" ]; then
  apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# tracefs: the BPF links need none of it, but bpftrace, perf and the tests' clean-up
# checks read it
if [ ! -e /sys/kernel/tracing/uprobe_events ]; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
fi

# the unprivileged user real test suites run as (see targets/README.md)
if ! id perfscope >/dev/null 2>&1; then
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
          --shell /usr/sbin/nologin perfscope
fi

# rustfmt and clippy for the house checks; the toolchain: rustup's stable (Debian 12's
# rustc 1.63 is too old for this edition-2024 workspace), installed when it is missing and
# static.rust-lang.org is reachable
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null 2>&1; then
  if curl -fsS --max-time 20 https://sh.rustup.rs -o /tmp/rustup-init.sh 2>/dev/null; then
    sh /tmp/rustup-init.sh -y -q --profile minimal -c rustfmt,clippy >/dev/null
    # the README's `... && cargo ...` runs in the caller's shell, whose PATH is unchanged
    for t in cargo rustc rustup rustfmt cargo-fmt cargo-clippy clippy-driver; do
      ln -sf "$HOME/.cargo/bin/$t" "/usr/local/bin/$t"
    done
  else
    echo "setup: no cargo, and rustup cannot be fetched: install a stable Rust toolchain" \
         "(https://rustup.rs) and run this again" >&2
    exit 2
  fi
fi
if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi
echo "setup: ok"
