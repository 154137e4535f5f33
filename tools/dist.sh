#!/usr/bin/env bash
# Build the release tarball: exactly what install.sh needs, and the LICENSE, nothing else.
#   tools/dist.sh [OUT_DIR]      (default build/dist; `make dist` runs this)
# Prints the tarball's path. The tarball is reproducible: the same commit gives
# the same bytes (sorted names, root:root, fixed mode bits, every mtime set to
# SOURCE_DATE_EPOCH or the last commit's time, gzip without a timestamp), so a
# fleet can check one sha256 and Ansible sees no change on a rerun.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd -P)
out_dir=${1:-$here/build/dist}

version=$(sed -n "s/^__version__ = [\"']\\([^\"']*\\)[\"'].*/\\1/p" "$here/plugin/tokensweeper/__init__.py" | head -n 1)
[[ -n "$version" ]] || { echo "dist: no __version__ in plugin/tokensweeper/__init__.py" >&2; exit 1; }
name="tokensweeper-$version"

# The files install.sh checks for, the license, plus the whole library package (the man
# page's generator included: install.sh writes the page). In a git checkout only tracked
# files ship, so local junk never reaches a server.
top_files=(LICENSE install.sh uninstall.sh bin/tokensweeper hooks/tokensweeper-hook plugin/index.cgi
    appconfig/tokensweeper.conf appconfig/tokensweeper.png)
list_library() {
    if git -C "$here" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -C "$here" ls-files -- plugin/tokensweeper
    else
        (cd "$here" && find plugin/tokensweeper -type f)
    fi | grep -v -e '/__pycache__/' -e '\.pyc$'
}

if [[ -z "${SOURCE_DATE_EPOCH:-}" ]]; then
    SOURCE_DATE_EPOCH=$(git -C "$here" log -1 --format=%ct 2>/dev/null || echo 0)
fi

mkdir -p "$out_dir"
list=$(mktemp)
trap 'rm -f "$list"' EXIT
{ printf '%s\n' "${top_files[@]}"; list_library; } | LC_ALL=C sort -u >"$list"
while IFS= read -r file; do
    [[ -f "$here/$file" ]] || { echo "dist: missing $file" >&2; exit 1; }
done <"$list"

tarball="$out_dir/$name.tar.gz"
# Mode bits: what git keeps (executable or not), never writable by group or others.
(cd "$here" && LC_ALL=C tar --create --format=gnu --no-recursion --files-from="$list" \
    --sort=name --owner=0 --group=0 --numeric-owner --mode='u+rwX,go+rX,go-w' \
    --mtime="@$SOURCE_DATE_EPOCH" --transform="s,^,$name/," ) | gzip -9 -n >"$tarball.tmp"
mv -f "$tarball.tmp" "$tarball"
(cd "$out_dir" && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")
echo "$tarball"
