#!/usr/bin/env bash
# One idempotent set-up for `make demo`, `make test` and CI: Debian packages, the venv
# on the system Python (it alone sees python3-bt2 and python3-lttngust), the native build.
# Re-running it does only what is missing or stale.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${USDK_VENV:-$ROOT/.venv}
say() { printf 'setup: %s\n' "$*" >&2; }

# 1. Debian packages
mapfile -t wanted < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' scripts/apt-packages.txt)
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then say "missing packages (${missing[*]}); run as root"; exit 1; fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. tracefs for perf's tracepoints (harmless where it is already mounted or not permitted)
if [ "$(id -u)" = 0 ] && [ -d /sys/kernel/tracing ] && ! mountpoint -q /sys/kernel/tracing; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || say "could not mount tracefs (kernel tier may skip)"
fi

# 3. venv on the system Python, with its site packages (bt2, lttngust)
if [ ! -x "$VENV/bin/python" ]; then
  say "creating venv $VENV"
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
fi

# 4. build + install (editable) when any build input changed
stamp="$VENV/.usdk-build-stamp"
digest=$(find pyproject.toml CMakeLists.txt tp_providers usdk correlate -type f \
           \( -name '*.txt' -o -name '*.toml' -o -name '*.c' -o -name '*.h' -o -name '*_build.py' -o -name '*.cdef' \) \
           -print0 2>/dev/null | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  say "building usdk (native extensions)"
  "$VENV/bin/pip" install -q -e ".[dev]"
  echo "$digest" > "$stamp"
fi
say "ready: $VENV"
