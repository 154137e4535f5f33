#!/usr/bin/env bash
# Run the test suite on cPanel's Python matrix, using pyenv's interpreters.
#   tools/matrix.sh [--venvs-only] [VERSION...]
#                                 (default versions: $MATRIX or 3.6.15 3.9.18 3.12.1)
# Each version gets its own .venv-VERSION built from requirements-dev.txt and
# runs every test but the browser tests and benchmarks (those need only the
# development Python). Versions run MATRIX_JOBS at a time, by default all
# three at once: the tests mostly wait on child processes (the fake whmapi1,
# install.sh), so on this 2-core machine three jobs took 90 s where two took
# 148 s. Each one's output goes to build/matrix/VERSION.log and is shown when
# it ends, so logs never interleave. --venvs-only builds the venvs and stops:
# make test does that first, because some development-Python tests (install.sh
# on every matrix interpreter) use the matrix venvs.
# An interpreter that is not installed is reported in a banner and skipped
# (MATRIX_REQUIRE_ALL=1 makes it a failure); any other failure fails the run.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

venvs_only=false
if [[ "${1:-}" == "--venvs-only" ]]; then
    venvs_only=true
    shift
fi
read -r -a versions <<< "${*:-${MATRIX:-3.6.15 3.9.18 3.12.1}}"
jobs_max=${MATRIX_JOBS:-3}
log_dir=build/matrix
mkdir -p "$log_dir"

if command -v pyenv >/dev/null 2>&1; then
    pyenv_root=$(pyenv root)
else
    pyenv_root=${PYENV_ROOT:-${HOME:-/root}/.pyenv}
fi

banner() {
    local line='!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!'
    printf '\n%s\n' "$line"
    local text
    for text in "$@"; do printf '!!! %s\n' "$text"; done
    printf '%s\n\n' "$line"
}

# One version, start to end; its output goes to the caller's redirection.
run_one() {
    local version=$1 python=$2 venv=".venv-$1"
    "$here/tools/venv.sh" "$python" "$venv" || return 1
    if "$venvs_only"; then return 0; fi
    # The venv's bin first in PATH: the fakes and entry points start with
    # `#!/usr/bin/env python3`, and must run on the interpreter under test.
    PATH="$here/$venv/bin:$PATH" "$venv/bin/python" -m pytest \
        -p no:cacheprovider -q -m 'not browser and not bench' \
        --ignore=tests/browser
}

missing=()
failed=()
passed=()
declare -A pid_version=()

report() {
    local version=$1 status=$2 log="$log_dir/$1.log"
    if "$venvs_only"; then
        if [[ "$status" -eq 0 ]]; then
            passed+=("$version")
            echo "=== matrix: .venv-$version ready"
        else
            failed+=("$version")
            echo "=== matrix: building .venv-$version FAILED; its log:"
            cat "$log"
        fi
    elif [[ "$status" -eq 0 ]]; then
        passed+=("$version")
        printf '=== matrix: Python %s passed (log: %s)\n' "$version" "$log"
        tail -n 3 "$log"
    else
        failed+=("$version")
        printf '=== matrix: Python %s FAILED (exit %s); its log:\n' "$version" "$status"
        if [[ "$status" -eq 5 ]]; then echo "(pytest exit 5: no tests were collected)"; fi
        cat "$log"
    fi
}

wait_for_one() {
    local pid status=0
    wait -n -p pid || status=$?
    report "${pid_version[$pid]}" "$status"
    unset "pid_version[$pid]"
}

for version in "${versions[@]}"; do
    python="$pyenv_root/versions/$version/bin/python"
    if [[ ! -x "$python" ]]; then
        missing+=("$version")
        if "$venvs_only"; then
            echo "=== matrix: Python $version IS NOT INSTALLED ($python): no .venv-$version"
            continue
        fi
        banner "MATRIX: Python $version IS NOT INSTALLED ($python)" \
               "SKIPPED: the suite did NOT run on Python $version." \
               "Install it with: pyenv install $version"
        continue
    fi
    while (( ${#pid_version[@]} >= jobs_max )); do wait_for_one; done
    "$venvs_only" || echo "=== matrix: Python $version started"
    run_one "$version" "$python" > "$log_dir/$version.log" 2>&1 &
    pid_version[$!]=$version
done
while (( ${#pid_version[@]} > 0 )); do wait_for_one; done
if "$venvs_only"; then (( ${#failed[@]} == 0 )); exit; fi

summary="passed: ${passed[*]:-none}; failed: ${failed[*]:-none}; missing: ${missing[*]:-none}"
# make test repeats this as its last words, so a missing interpreter is seen.
echo "$summary" > "$log_dir/summary"
printf '\n=== matrix summary: %s\n' "$summary"
if (( ${#missing[@]} > 0 )); then
    banner "MATRIX INCOMPLETE: NOT TESTED on Python ${missing[*]} (interpreter missing)"
    if [[ "${MATRIX_REQUIRE_ALL:-0}" == 1 ]]; then exit 1; fi
fi
(( ${#failed[@]} == 0 ))
