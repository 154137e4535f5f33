#!/usr/bin/env bash
# List the Python sources under the given directories, one per line:
# every *.py file and every extension-less executable whose shebang names
# python (entry points such as bin/tokensweeper, plugin/index.cgi, the fakes).
# With --scripts-only, list only the latter (linters skip them by default).
#   tools/pyfiles.sh [--scripts-only] DIR...
set -euo pipefail

scripts_only=false
if [[ "${1:-}" == "--scripts-only" ]]; then
    scripts_only=true
    shift
fi

is_python_script() {
    local first
    IFS= read -r first < "$1" || true
    [[ "$first" == '#!'*python* ]]
}

for dir in "$@"; do
    [[ -e "$dir" ]] || continue
    while IFS= read -r -d '' file; do
        case "$file" in
            *.py)
                "$scripts_only" || printf '%s\n' "$file" ;;
            *)
                if is_python_script "$file"; then printf '%s\n' "$file"; fi ;;
        esac
    done < <(find "$dir" \( -name __pycache__ -o -name '.venv*' \) -prune \
                 -o -type f \( -name '*.py' -o ! -name '*.*' \) -print0 | sort -z)
done
