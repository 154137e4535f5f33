#!/bin/bash
# Extract what `make conformance` needs from a git mirror of cPanel's /usr/local/cpanel
# (the public 11.120 mirror, repository asmrdevelop/cpanel) into DIR: its Perl modules
# and its bundled pure-Perl libraries (not their XS builds, which are for cPanel's own
# Perl). Nothing of it is ever copied into this repository.
#   tests/contract/extract-cpanel.sh MIRROR.git DIR
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 MIRROR.git DIR" >&2
    exit 2
fi
mirror=$1
dir=$2
lib=3rdparty/perl/536/cpanel-lib
paths=(Cpanel Whostmgr Cpanel.pm cPstrict.pm version)
for path in "${paths[@]}" "$lib"; do
    if ! git -C "$mirror" cat-file -e "HEAD:$path" 2>/dev/null; then
        echo "$0: $mirror has no $path at HEAD" >&2
        exit 1
    fi
done
while read -r _ _ _ path; do
    [ "$path" = "$lib/x86_64-linux" ] || paths+=("$path")
done < <(git -C "$mirror" ls-tree HEAD "$lib/")
mkdir -p "$dir"
# One subtree at a time: a mirror may lack blobs elsewhere (git archive of the whole
# tree stops at the first one).
for path in "${paths[@]}"; do
    if [ "$(git -C "$mirror" cat-file -t "HEAD:$path")" = tree ]; then
        git -C "$mirror" archive --prefix="$path/" "HEAD:$path" | tar -x -C "$dir"
    else
        mkdir -p "$dir/$(dirname "$path")"
        git -C "$mirror" cat-file blob "HEAD:$path" > "$dir/$path"
    fi
done
echo "cPanel's Perl tree is in $dir ($(cat "$dir/version"))"
