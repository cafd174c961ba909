#!/bin/sh
# PID 1 of the lab guest once the host's root is mounted (see lab/initramfs-init); the host copies
# this file into the output share, /run/usdk-lab here. It finishes the guest's set-up (pseudo
# filesystems, the lab kernel's modules at /lib/modules, the ext4 disk at /mnt/usdk-ext4,
# lttng-sessiond with the kernel tracer), runs /run/usdk-lab/job.sh as root from the repo with a
# clean environment, writes its exit status to /run/usdk-lab/rc and powers the guest off.
OUT=/run/usdk-lab
. "$OUT/lab.env"    # USDK_LAB_REPO, USDK_LAB_MODULES_DIR, USDK_LAB_VENV, USDK_LAB_EXT4
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
say() { echo "lab-guest: $*"; }
poweroff_now() {
  sync
  umount "$OUT" 2>/dev/null
  echo o >/proc/sysrq-trigger
  sleep 30
}

mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
hostname usdk-lab
ln -sf /proc/self/fd /dev/fd 2>/dev/null

krel=$(uname -r)
mkdir -p "/lib/modules/$krel"
mount --bind "$USDK_LAB_MODULES_DIR" "/lib/modules/$krel" || { say "no modules for $krel"; poweroff_now; }

if [ -n "${USDK_LAB_EXT4:-}" ]; then
  mkdir -p "$USDK_LAB_EXT4"
  mount -t ext4 /dev/vda "$USDK_LAB_EXT4" || { say "cannot mount the ext4 disk /dev/vda"; poweroff_now; }
fi

# Root's sessiond loads lttng-modules through libkmod; its log goes to the output share.
lttng-sessiond --daemonize --verbose-consumer >"$OUT/sessiond.log" 2>&1 \
  || say "lttng-sessiond did not start (see sessiond.log)"
if [ -e /proc/lttng ]; then
  say "kernel tracer loaded: $(grep -c '^lttng' /proc/modules) lttng modules"
else
  say "kernel tracer NOT loaded"
fi

mkdir -p /tmp/home
say "running job.sh"
cd "$USDK_LAB_REPO" || poweroff_now
{
  env -i PATH="$USDK_LAB_VENV/bin:$PATH" HOME=/tmp/home LANG=C.UTF-8 TERM=dumb \
      USDK_LAB_GUEST=1 USDK_LAB_OUT="$OUT" USDK_LAB_EXT4="${USDK_LAB_EXT4:-}" \
      USDK_VENV="$USDK_LAB_VENV" PYTHONDONTWRITEBYTECODE=1 \
      sh "$OUT/job.sh"
  echo $? >"$OUT/rc.tmp"
} 2>&1 | tee "$OUT/job.log"
mv "$OUT/rc.tmp" "$OUT/rc"
say "job.sh exited $(cat "$OUT/rc")"

# Bounded: a sessiond stuck in the kernel must not keep the guest from powering off.
timeout 20 lttng destroy --all >/dev/null 2>&1 || say "lttng destroy --all did not finish"
pid=$(pidof lttng-sessiond)
[ -n "$pid" ] && kill $pid && sleep 1
[ -n "${USDK_LAB_EXT4:-}" ] && umount "$USDK_LAB_EXT4"
poweroff_now
