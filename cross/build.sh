#!/usr/bin/env bash
# The Docker-free cross build (what CI uses): Debian's Rust (rustc-web, with the arm64 std from
# libstd-rust-web-dev:arm64), linked by zig (cargo-zigbuild + the `ziglang` PyPI package)
# against glibc 2.31, JetPack 5's, whatever glibc this machine has.
#
#   cross/build.sh                         the release binary, symbols kept, debug info dropped:
#                                          $CARGO_TARGET_DIR/aarch64-unknown-linux-gnu/release/edge-infer
#   TARGET=x86_64-unknown-linux-gnu cross/build.sh       the same for amd64 (also glibc 2.31)
#   cross/build.sh test -p edge-engine --lib             tests, run under qemu (cross/qemu-aarch64.sh)
#   cross/build.sh clippy --workspace -- -D warnings     clippy for the target (rust-web-clippy)
#   cross/build.sh zigbuild <args>                       any other `cargo zigbuild`
#
# Environment: TARGET (aarch64-unknown-linux-gnu), GLIBC (2.31), CARGO_TARGET_DIR (target),
# EDGE_CROSS_CARGO / EDGE_CROSS_RUSTC (Debian's /usr/bin/cargo and /usr/bin/rustc; a rustup
# toolchain with the target's std added works too), CARGO_ZIGBUILD_PYTHON_PATH (a python3 with
# ziglang, if `python3` has none). cross/ci.sh installs everything; cross/README.md lists it.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${TARGET:-aarch64-unknown-linux-gnu}
glibc=${GLIBC:-2.31}
cargo=${EDGE_CROSS_CARGO:-/usr/bin/cargo}
# cargo runs `rustc` from PATH otherwise, which may be a rustup proxy without the target's std.
export RUSTC=${EDGE_CROSS_RUSTC:-/usr/bin/rustc}
target_dir=${CARGO_TARGET_DIR:-target}

case "$target" in
  aarch64-unknown-linux-gnu)
    # bindgen (v4l2-sys-mit, under the v4l crate) parses <linux/videodev2.h> with libclang; it
    # gets --target from cargo, and this makes it read the aarch64 headers of Debian's cross
    # sysroot (libc6-dev-arm64-cross, linux-libc-dev-arm64-cross), never the host's.
    # cargo-zigbuild appends -nostdinc and zig's own headers (clang's stddef.h and the like) to
    # this generic variable for the target-specific ones bindgen reads, so ours are searched
    # first. (Set BINDGEN_EXTRA_CLANG_ARGS_aarch64_unknown_linux_gnu instead and bindgen never
    # sees it: zigbuild sets the dashed spelling, which bindgen looks up first.)
    export BINDGEN_EXTRA_CLANG_ARGS="-isystem /usr/aarch64-linux-gnu/include"
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER:-$PWD/cross/qemu-aarch64.sh}
    objcopy=aarch64-linux-gnu-objcopy ;;
  x86_64-unknown-linux-gnu)
    objcopy=objcopy ;;
  *) echo "cross/build.sh: unsupported TARGET $target" >&2; exit 64 ;;
esac

case "${1:-}" in
  "")
    # [profile.release] says strip = "debuginfo" (symbols stay, for readable panic backtraces),
    # which GNU ld honours but zig does not: given --strip-debug it drops the symbol table too.
    # So link unstripped and drop the debug info here, keeping .symtab.
    CARGO_PROFILE_RELEASE_STRIP=none \
      "$cargo" zigbuild --release --locked -p edge-infer --bin edge-infer --target "$target.$glibc"
    bin=$target_dir/$target/release/edge-infer
    "$objcopy" --strip-debug "$bin"
    echo "cross/build.sh: $bin ($(stat -c %s "$bin") bytes)"
    ;;
  test)
    # One test at a time under qemu (as rust-lang's own qemu CI images run them): the emulated
    # CPU is many times slower, and tests with time limits stay steady without a second test
    # competing for it. Most test binaries hold a few short tests, so little is lost.
    shift
    export RUST_TEST_THREADS=${RUST_TEST_THREADS:-1}
    # `cargo zigbuild test` is spelled `cargo-zigbuild test`.
    CARGO=$cargo exec cargo-zigbuild test --locked --target "$target.$glibc" "$@"
    ;;
  clippy)
    # Checks only, nothing linked for the target: plain cargo, no zig. The cargo-clippy beside
    # $cargo (Debian's is rust-web-clippy), named in full: a rustup proxy of that name may come
    # first in PATH.
    shift
    CARGO=$cargo exec "$(dirname "$cargo")/cargo-clippy" clippy --locked --target "$target" "$@"
    ;;
  zigbuild)
    shift
    exec "$cargo" zigbuild --target "$target.$glibc" "$@"
    ;;
  *) echo "usage: cross/build.sh [test <cargo test args> | clippy <cargo clippy args> | zigbuild <cargo build args>]" >&2; exit 64 ;;
esac
