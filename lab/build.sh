#!/usr/bin/env bash
# Build (once) what the kernel lab boots: the pinned Debian kernel, lttng-modules compiled against
# it, and a busybox initramfs that mounts the host's root over 9p. Everything lives in a cache
# outside the repo, keyed by kernel and lttng-modules versions:
#   ${USDK_LAB_CACHE:-/var/cache/usdk-lab}/<kernel-abi>_<kernel-version>_lttng-modules-<version>_<recipe>/
#     root/boot/vmlinuz-<abi>           the kernel
#     root/lib/modules/<abi>/           its modules + updates/lttng/*.ko, depmod'ed
#     initrd-<digest>.img               the initramfs (rebuilt when lab/initramfs-init changes)
#     build.log                         the module build's log
# On success it prints KEY=VALUE lines (LAB_DIR, KERNEL, INITRD, KREL, MODULES_DIR) on stdout.
# Exit status: 2 a host tool is missing, 3 the packages cannot be fetched, 4 lttng-modules does not
# build against the kernel, 5 with --if-cached: the cache is cold (nothing is fetched or built).
# Re-running with a warm cache takes about a second.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=pins.env
. "$HERE/pins.env"
KREL=${USDK_LAB_KERNEL_ABI:-$KERNEL_ABI}
KVER=${USDK_LAB_KERNEL_PKG_VERSION:-$KERNEL_PKG_VERSION}
LMVER=${USDK_LAB_LTTNG_MODULES_VERSION:-$LTTNG_MODULES_VERSION}
CACHE=${USDK_LAB_CACHE:-/var/cache/usdk-lab}
RECIPE=r1   # bump when a change here makes earlier cached builds wrong
KEY="${KREL}_${KVER}_lttng-modules-${LMVER}_$RECIPE"
DIR="$CACHE/$KEY"
say() { printf 'lab-build: %s\n' "$*" >&2; }
die() { local rc=$1; shift; say "$*"; exit "$rc"; }

for tool in apt-get dpkg-deb depmod modprobe make gcc-12 cpio busybox flock; do
  command -v "$tool" >/dev/null || die 2 "missing host tool '$tool' (scripts/setup.sh installs it from scripts/apt-packages.txt)"
done
[ -x /bin/busybox ] && file_is_static=$(LC_ALL=C ldd /bin/busybox 2>&1 || true)
case "${file_is_static:-}" in *"not a dynamic"*) ;; *) die 2 "/bin/busybox is not static (install busybox-static)";; esac

if [ "${1:-}" = --if-cached ] && [ ! -f "$DIR/ready" ]; then
  say "no cached build at $DIR (make lab builds it)"
  exit 5
fi
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9   # one builder at a time; a second one waits and then finds the cache warm

# 1. kernel + modules (cold: fetch, unpack, build lttng-modules; warm: nothing)
if [ ! -f "$DIR/ready" ]; then
  start=$SECONDS
  rm -rf "$DIR.tmp" && mkdir -p "$DIR.tmp/debs" "$DIR.tmp/root"
  T=$DIR.tmp
  pkgs=("linux-image-$KREL=$KVER" "linux-headers-$KREL=$KVER" "linux-headers-${KREL%-*}-common=$KVER"
        "lttng-modules-dkms=$LMVER")
  # linux-headers depends on linux-kbuild-6.1 (>= its version), which the archive updates in place.
  kbuild=$(apt-cache depends "linux-headers-$KREL=$KVER" 2>/dev/null | sed -n 's/.*Depends: \(linux-kbuild-[0-9.]*\).*/\1/p' | head -1)
  if [ -z "$kbuild" ]; then
    say "linux-headers-$KREL=$KVER is not in the apt index; running apt-get update"
    apt-get update -qq >&2 || true
    kbuild=$(apt-cache depends "linux-headers-$KREL=$KVER" 2>/dev/null | sed -n 's/.*Depends: \(linux-kbuild-[0-9.]*\).*/\1/p' | head -1)
  fi
  [ -n "$kbuild" ] || die 3 "cannot fetch the kernel packages: linux-headers-$KREL=$KVER is not in the apt index (apt-cache policy linux-image-$KREL; pin another kernel in lab/pins.env)"
  # The ext4 probe needs the private fs/ext4/*.h, which only the full source of that kernel has.
  source_pkg="linux-source-${kbuild#linux-kbuild-}=$KVER"
  pkgs+=("$kbuild" "$source_pkg")
  say "fetching ${pkgs[*]}"
  (cd "$T/debs" && apt-get download -q "${pkgs[@]}" >&2 2>"$T/fetch.log") \
    || { cat "$T/fetch.log" >&2; die 3 "cannot fetch the kernel packages (no network for the Debian archive?)"; }
  for deb in "$T"/debs/*.deb; do
    case "$deb" in */linux-source-*) continue;; esac
    dpkg-deb -x "$deb" "$T/root"
  done
  hdr=$T/root/usr/src/linux-headers-$KREL
  common=$T/root/usr/src/linux-headers-${KREL%-*}-common
  dpkg-deb --fsys-tarfile "$T"/debs/linux-source-*.deb | tar -xO --wildcards './usr/src/linux-source-*.tar.xz' \
    | tar -xJ -C "$common" --strip-components=1 --wildcards '*/fs/ext4/*.h' \
    || die 3 "cannot unpack fs/ext4/*.h from $source_pkg"
  # The headers' Makefile includes the -common tree by absolute path; point it at ours.
  sed -i "s|/usr/src/|$T/root/usr/src/|" "$hdr/Makefile"
  src=$(ls -d "$T"/root/usr/src/lttng-modules-* | head -1)
  say "building $(basename "$src") against $KREL (about 1-2 minutes)"
  if ! make -C "$src" -j"$(nproc)" KERNELDIR="$hdr" >"$T/build.log" 2>&1; then
    tail -30 "$T/build.log" >&2
    cp "$T/build.log" "$CACHE/$KEY.build-failed.log"
    die 4 "lttng-modules $LMVER does not build against $KREL; log: $CACHE/$KEY.build-failed.log"
  fi
  mdir=$T/root/lib/modules/$KREL
  (cd "$src" && find . -name '*.ko' -print0 | while IFS= read -r -d '' ko; do
     install -D -m 0644 "$ko" "$mdir/updates/lttng/${ko#./}"; done)
  n=$(find "$mdir/updates/lttng" -name '*.ko' | wc -l)
  [ -f "$mdir/updates/lttng/src/probes/lttng-probe-ext4.ko" ] \
    || { cp "$T/build.log" "$CACHE/$KEY.build-failed.log"
         die 4 "the lttng-modules build produced no ext4 probe; log: $CACHE/$KEY.build-failed.log"; }
  rm -f "$mdir/build" "$mdir/source"
  depmod -b "$T/root" "$KREL"
  {
    echo "kernel=$KREL $KVER"
    echo "lttng-modules=$LMVER ($n modules)"
    echo "kbuild=$kbuild $(dpkg-deb -f "$T"/debs/"$kbuild"_*.deb Version)"
    echo "built-in-seconds=$((SECONDS - start))"
  } >"$T/ready.tmp"
  # Keep only what the guest needs: the kernel, its modules, and the build log.
  rm -rf "$T/root/usr" "$T/debs"
  rm -rf "$DIR" && mv "$T/ready.tmp" "$T/ready" && mv "$T" "$DIR"
  say "built $KEY in $((SECONDS - start)) s ($n lttng modules)"
fi

# 2. initramfs: busybox + the modules that mount 9p/overlay and the ext4 disk, + lab/initramfs-init
mods=$(for m in virtio_pci 9pnet_virtio 9p overlay virtio_blk ext4; do
         modprobe -d "$DIR/root" -S "$KREL" --show-depends "$m"; done \
       | awk '$1 == "insmod" && !seen[$2]++ { print $2 }')
digest=$( { cat "$HERE/initramfs-init"; echo "$mods"; sha256sum /bin/busybox; } | sha256sum | cut -c1-16)
INITRD=$DIR/initrd-$digest.img
if [ ! -f "$INITRD" ]; then
  I=$(mktemp -d)
  trap 'rm -rf "$I"' EXIT
  mkdir -p "$I"/{bin,dev,proc,sys,lower,rw,newroot,modules}
  cp /bin/busybox "$I/bin/busybox"
  install -m 0755 "$HERE/initramfs-init" "$I/init"
  : >"$I/modules/order"
  for m in $mods; do cp "$m" "$I/modules/"; basename "$m" >>"$I/modules/order"; done
  (cd "$I" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$INITRD.tmp"
  mv "$INITRD.tmp" "$INITRD"
  find "$DIR" -maxdepth 1 -name 'initrd-*.img' ! -name "$(basename "$INITRD")" -delete
fi

echo "LAB_DIR=$DIR"
echo "KREL=$KREL"
echo "KERNEL=$DIR/root/boot/vmlinuz-$KREL"
echo "INITRD=$INITRD"
echo "MODULES_DIR=$DIR/root/lib/modules/$KREL"
