#!/bin/sh
# Runs an aarch64 Linux binary here under qemu-user with Debian's cross glibc (libc6-arm64-cross)
# as its sysroot: cross/build.sh's test runner, and what cross/ci.sh runs the binary with.
#
# LD_LIBRARY_PATH is not optional. `-L` gives the binary the cross ld.so, but ld.so still reads
# this machine's /etc/ld.so.cache, which lists /lib/aarch64-linux-gnu/libc.so.6 from libc6:arm64
# (a dependency of libstd-rust-web-dev:arm64) - another build of glibc than that ld.so, and the
# mismatch makes pthread_create spin forever: any thread, any test.
sysroot=${QEMU_SYSROOT:-/usr/aarch64-linux-gnu}
exec qemu-aarch64 -L "$sysroot" -E LD_LIBRARY_PATH="$sysroot/lib" "$@"
