#!/usr/bin/env bash
# Build or refresh a virtualenv from requirements-dev.txt (or REQUIREMENTS).
#   tools/venv.sh PYTHON DIR [REQUIREMENTS]
# The venv is rebuilt from scratch only when the requirements file or the
# interpreter changed: a stamp file inside DIR records a hash of both, so an
# up-to-date venv costs one sha256sum. A half-built venv has no stamp and is
# rebuilt on the next run.
set -euo pipefail

python=$1
dir=$2
here=$(cd "$(dirname "$0")/.." && pwd)
requirements="$here/${3:-requirements-dev.txt}"
stamp="$dir/.requirements.sha256"

interpreter=$("$python" -c 'import sys; print(sys.executable, sys.version.split()[0])')
wanted=$( { cat "$requirements"; echo "$interpreter"; } | sha256sum | cut -d' ' -f1)

if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" && -x "$dir/bin/python" ]]; then
    exit 0
fi

echo "venv: building $dir with $interpreter from ${3:-requirements-dev.txt}"
rm -rf "$dir"
"$python" -m venv "$dir"
# -q keeps the log readable; pip still prints errors. No --upgrade of pip:
# every pin is exact, so even Python 3.6's pip 18 resolves the file.
"$dir/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"
"$dir/bin/python" -m pip check
echo "$wanted" > "$stamp"
