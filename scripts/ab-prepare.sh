#!/usr/bin/env bash
# The builds that scripts/gpu-ab.sh (and gpu-try.sh) compare, made from git revisions: each
# NAME=REV is checked out in a scratch worktree, built (release; one target dir for all, so the
# dependencies build once) and its edge-infer copied to .gpu/ab/NAME/. .gpu/ab is made anew,
# with REVISIONS saying what each build is; .gpu/tests is left alone
# (`scripts/gpu-check.sh prepare`, which empties .gpu, goes first).
#   here:  scripts/ab-prepare.sh a-main=main b-next=next/some-branch ...
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 NAME=REV ..." >&2; exit 64; }
repo=$PWD
for spec in "$@"; do
  [[ $spec =~ ^[A-Za-z0-9._-]+=.+$ ]] || { echo "not NAME=REV: $spec" >&2; exit 64; }
  git rev-parse --verify --quiet "${spec#*=}^{commit}" > /dev/null || { echo "no such revision: ${spec#*=}" >&2; exit 64; }
done
trees=$(mktemp -d)
trap 'git -C "$repo" worktree prune; rm -rf "$trees"' EXIT
rm -rf .gpu/ab
mkdir -p .gpu/ab
for spec in "$@"; do
  name=${spec%%=*} rev=${spec#*=}
  git worktree add --detach --quiet "$trees/$name" "$rev"
  (cd "$trees/$name" && CARGO_TARGET_DIR="$repo/target/ab" cargo build --release --quiet -p edge-infer)
  mkdir -p ".gpu/ab/$name"
  cp target/ab/release/edge-infer ".gpu/ab/$name/"
  rm -rf "${trees:?}/$name"
  echo "$name: $(git log -1 --format='%h %s' "$rev" | cut -c1-90)" | tee -a .gpu/ab/REVISIONS
done
