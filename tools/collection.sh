#!/usr/bin/env bash
# Build the Ansible collection tokensweeper.cpanel with the release tarball inside.
#   tools/collection.sh TARBALL ANSIBLE_GALAXY [OUT_DIR]   (`make dist` runs this)
# The install role's default tokensweeper_dist_tarball is roles/install/files/
# tokensweeper-VERSION.tar.gz: the built collection carries it, so a fleet
# admin who installed the collection needs nothing else. The checkout's
# ansible/ is copied to build/, never written to.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd -P)
tarball=$1
galaxy=$2
out_dir=${3:-$here/build/dist}

version=$(sed -n 's/^version: *//p' "$here/ansible/galaxy.yml")
expected="tokensweeper-$version.tar.gz"
if [[ "$(basename "$tarball")" != "$expected" ]]; then
    echo "collection: galaxy.yml says version $version but the tarball is $(basename "$tarball")" >&2
    exit 1
fi

# A private staging directory: the matrix builds the collection on three
# Pythons at once, and a shared build/collection was wiped under a running build.
stage=$(mktemp -d "${TMPDIR:-/tmp}/tokensweeper-collection.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$out_dir"
cp -R "$here/ansible/." "$stage/"
cp "$here/LICENSE" "$stage/LICENSE"  # galaxy.yml says MIT; the text travels with it
mkdir -p "$stage/roles/install/files"
cp "$tarball" "$stage/roles/install/files/$expected"
"$galaxy" collection build --force --output-path "$out_dir" "$stage" >/dev/null
echo "$out_dir/tokensweeper-cpanel-$version.tar.gz"
