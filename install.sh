#!/bin/bash
# Install or upgrade Token Sweeper on a cPanel & WHM server. Run ./install.sh --help.
set -euo pipefail
set -o errtrace
umask 022

SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
INSTALL_PACKAGES=1

usage() {
    cat <<'EOF'
Usage: ./install.sh [--no-packages] [--help]

Install or upgrade Token Sweeper, the WHM plugin that finds and revokes stale
WHM API tokens. Run it as root on the cPanel & WHM server, from the unpacked
source directory. Running it again is safe: it changes nothing that is already
right and repairs what is not (missing or changed files and modes, a missing
page registration, hook registrations that are missing, doubled or left by an
older release). An upgrade replaces the code and registrations and keeps the
config (/etc/tokensweeper/config.yaml) and the audit log (/var/cpanel/tokensweeper/).

What it does:
  - picks the system Python (/usr/bin/python3, else /usr/libexec/platform-python;
    3.6 or newer) and installs the OS packages for Jinja2 and PyYAML when they
    do not import (dnf/yum: python3-jinja2 python3-pyyaml; apt: python3-jinja2 python3-yaml);
  - installs the library in /usr/local/lib/tokensweeper/, the WHM page in
    /usr/local/cpanel/whostmgr/docroot/cgi/tokensweeper/, the hook in
    /usr/local/cpanel/3rdparty/bin/, the command as /usr/local/sbin/tokensweeper
    and its man page (man tokensweeper) in /usr/local/share/man/man8/;
  - writes a commented default config only when none exists (it starts in
    preview mode: nothing is revoked unattended until you set `mode: enforce`);
  - registers the page with register_appconfig and the hook with manage_hooks;
  - installs the cron entry /etc/cron.d/tokensweeper for the config's `schedule`.

Options:
  --no-packages   never run dnf/yum/apt; stop instead if Jinja2 or PyYAML is missing
  -h, --help      show this help

Environment:
  INSTALL_ROOT          install into this tree instead of / (tests use a fake cPanel tree;
                        no white space in its path: cPanel and cron cannot run from there)
  TOKENSWEEPER_PYTHON   absolute path of the Python interpreter to use

Uninstall with /usr/local/lib/tokensweeper/uninstall.sh (or ./uninstall.sh).
EOF
}

say() { printf '==> %s\n' "$*"; }
# How many things this run changed on the server; the summary reports it so
# that automation (the Ansible role) can tell a no-op rerun from a change.
CHANGES=0
changed() { CHANGES=$((CHANGES + 1)); }
note() { printf '    %s\n' "$*"; }
warn() { printf 'install.sh: warning: %s\n' "$*" >&2; }
die() {
    printf 'install.sh: %s\n' "$*" >&2
    exit 1
}
on_error() {
    printf 'install.sh: failed at line %s. Fix the problem above and run ./install.sh again: it is safe to rerun.\n' "$1" >&2
}
trap 'on_error $LINENO' ERR

# Temporary files to remove however the script ends.
TEMP_FILES=()
cleanup() {
    rm -f ${TEMP_FILES[@]+"${TEMP_FILES[@]}"}
}
trap cleanup EXIT

# Sets TEMP to a new temporary file; given a directory, a hidden one there (same
# file system, so `mv` into place is atomic, and cron or cpsrvd never pick up a
# half-written file). Not called in $(...): the list must live in this shell.
new_temp() {
    if [ $# -gt 0 ]; then
        TEMP=$(mktemp "$1/.tokensweeper.XXXXXX")
    else
        TEMP=$(mktemp)
    fi
    TEMP_FILES+=("$TEMP")
}

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            -h | --help)
                usage
                exit 0
                ;;
            --no-packages) INSTALL_PACKAGES=0 ;;
            *)
                printf 'install.sh: unknown argument: %s\n\n' "$1" >&2
                usage >&2
                exit 2
                ;;
        esac
        shift
    done
}

# Every path below is a real absolute path: INSTALL_ROOT (normalized) + the
# installed layout of HACKING.md. With INSTALL_ROOT=/ the prefix is empty.
set_paths() {
    local given=${INSTALL_ROOT:-/}
    [ -d "$given" ] || die "INSTALL_ROOT=$given is not a directory."
    ROOT=$(cd "$given" && pwd -P)
    [ "$ROOT" = / ] && ROOT=""
    # cPanel registers a hook as a command line split on spaces, and cron runs the
    # command line it reads: neither can name a path with white space in it. Say so
    # before anything is written, not after half an installation.
    case "$ROOT" in
        *[[:space:]]*) die "INSTALL_ROOT=$ROOT contains white space: cPanel's hook registry and cron cannot run the hook or the command from such a path. Use a path without spaces." ;;
    esac
    CPANEL_BIN="$ROOT/usr/local/cpanel/bin"
    LIB_PARENT="$ROOT/usr/local/lib/tokensweeper"
    CGI_DIR="$ROOT/usr/local/cpanel/whostmgr/docroot/cgi/tokensweeper"
    HOOK="$ROOT/usr/local/cpanel/3rdparty/bin/tokensweeper-hook"
    COMMAND="$ROOT/usr/local/sbin/tokensweeper"
    MAN_PAGE="$ROOT/usr/local/share/man/man8/tokensweeper.8"
    ICON="$ROOT/usr/local/cpanel/whostmgr/docroot/addon_plugins/tokensweeper.png"
    CONFIG_DIR="$ROOT/etc/tokensweeper"
    CONFIG="$CONFIG_DIR/config.yaml"
    STATE_DIR="$ROOT/var/cpanel/tokensweeper"
    CRON_FILE="$ROOT/etc/cron.d/tokensweeper"
}

check_user() {
    [ "$(id -u)" -eq 0 ] || die "must run as root: WHM plugins, cron entries and hooks are root's. Try: sudo ./install.sh"
}

check_cpanel() {
    [ -x "$CPANEL_BIN/whmapi1" ] ||
        die "cPanel & WHM is not installed here: $CPANEL_BIN/whmapi1 is missing. Token Sweeper only runs on a cPanel & WHM server."
}

check_sources() {
    local missing=() file
    for file in bin/tokensweeper hooks/tokensweeper-hook plugin/index.cgi \
        plugin/tokensweeper/__init__.py plugin/tokensweeper/default-config.yaml \
        appconfig/tokensweeper.conf appconfig/tokensweeper.png uninstall.sh; do
        [ -f "$SRC_DIR/$file" ] || missing+=("$file")
    done
    [ ${#missing[@]} -eq 0 ] || die "the source directory $SRC_DIR is incomplete; missing: ${missing[*]}"
}

version_of() {
    # The __version__ string of a tokensweeper package directory, or nothing.
    [ -f "$1/__init__.py" ] || return 0
    sed -n "s/^__version__ = [\"']\\([^\"']*\\)[\"'].*/\\1/p" "$1/__init__.py" | head -n 1
}

choose_python() {
    if [ -n "${TOKENSWEEPER_PYTHON:-}" ]; then
        PYTHON=$TOKENSWEEPER_PYTHON
    elif [ -x /usr/bin/python3 ]; then
        PYTHON=/usr/bin/python3
    elif [ -x /usr/libexec/platform-python ]; then
        PYTHON=/usr/libexec/platform-python
    else
        die "no Python 3 found (/usr/bin/python3 or /usr/libexec/platform-python). Install the OS package python3 and run ./install.sh again."
    fi
    case "$PYTHON" in
        /*) ;;
        *) die "TOKENSWEEPER_PYTHON must be an absolute path, not '$PYTHON'." ;;
    esac
    [ -x "$PYTHON" ] || die "the Python interpreter $PYTHON is not executable."
    PYTHON_VERSION=$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null) ||
        die "$PYTHON does not run as Python."
    case "$PYTHON_VERSION" in
        3.[6-9].* | 3.[1-9][0-9].* | [4-9].*) ;;
        *) die "$PYTHON is Python $PYTHON_VERSION; Token Sweeper needs Python 3.6 or newer." ;;
    esac
    note "Python: $PYTHON (Python $PYTHON_VERSION)"
}

modules_import() {
    "$PYTHON" -c 'import jinja2, yaml' >/dev/null 2>&1
}

install_os_packages() {
    if command -v dnf >/dev/null 2>&1; then
        say "Installing python3-jinja2 python3-pyyaml with dnf"
        dnf -y install python3-jinja2 python3-pyyaml
    elif command -v yum >/dev/null 2>&1; then
        say "Installing python3-jinja2 python3-pyyaml with yum"
        yum -y install python3-jinja2 python3-pyyaml
    elif command -v apt-get >/dev/null 2>&1; then
        say "Installing python3-jinja2 python3-yaml with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get install -y python3-jinja2 python3-yaml
    else
        die "Jinja2 or PyYAML is missing for $PYTHON and no dnf, yum or apt-get was found to install them."
    fi
}

ensure_modules() {
    if modules_import; then
        note "Jinja2 and PyYAML: present"
        return
    fi
    [ "$INSTALL_PACKAGES" -eq 1 ] ||
        die "Jinja2 or PyYAML does not import with $PYTHON and --no-packages was given. Install the OS packages (dnf/yum: python3-jinja2 python3-pyyaml; apt: python3-jinja2 python3-yaml) and run ./install.sh again."
    install_os_packages
    modules_import || die "Jinja2 or PyYAML still does not import with $PYTHON after installing the OS packages."
}

# Create a directory (and parents) owned by root with MODE.
own_dir() {
    [ -d "$1" ] || changed
    mkdir -p "$1"
    chown 0:0 "$1"
    chmod "$2" "$1"
}

# Write the content of file SRC to DEST (root, MODE), atomically, and only when it differs.
put_file() {
    local src=$1 dest=$2 mode=$3 tmp
    mkdir -p "$(dirname "$dest")"
    if [ -f "$dest" ] && [ ! -L "$dest" ] && cmp -s "$src" "$dest"; then
        chown 0:0 "$dest"
        chmod "$mode" "$dest"
        note "unchanged: $dest"
        return
    fi
    new_temp "$(dirname "$dest")"
    tmp=$TEMP
    cat "$src" >"$tmp"
    chown 0:0 "$tmp"
    chmod "$mode" "$tmp"
    mv -f "$tmp" "$dest"
    changed
    note "installed: $dest"
}

# Copy an entry point with its shebang set to the chosen interpreter and its
# `LIB_DIR = ` line pointing at the installed library (HACKING.md).
put_entry_point() {
    local src=$1 dest=$2 rendered
    new_temp
    rendered=$TEMP
    "$PYTHON" - "$src" "$rendered" "$PYTHON" "$LIB_PARENT" <<'PYEOF' || die "cannot prepare $src"
import io
import json
import sys

src, dest, python, lib_dir = sys.argv[1:5]
with io.open(src, encoding="utf-8") as handle:
    lines = handle.read().splitlines(True)
if not lines or not lines[0].startswith("#!"):
    sys.exit("{}: the first line is not a #! line".format(src))
lines[0] = "#!" + python + "\n"
found = [i for i, line in enumerate(lines) if line.startswith("LIB_DIR = ")]
if len(found) != 1:
    sys.exit("{}: expected exactly one line starting 'LIB_DIR = ', found {}".format(src, len(found)))
lines[found[0]] = "LIB_DIR = " + json.dumps(lib_dir) + "\n"
with io.open(dest, "w", encoding="utf-8") as handle:
    handle.write("".join(lines))
PYEOF
    put_file "$rendered" "$dest" 0755
}

# The library is built in a staging directory and swapped in whole, so a
# cron run or page view never sees half old, half new code. When nothing
# changed the installed copy is left alone.
install_library() {
    local stage="$LIB_PARENT.new" old="$LIB_PARENT.old"
    rm -rf "$stage" "$old"
    mkdir -p "$stage"
    cp -R "$SRC_DIR/plugin/tokensweeper" "$stage/tokensweeper"
    find "$stage" -name __pycache__ -prune -exec rm -rf {} +
    find "$stage" -name '*.pyc' -exec rm -f {} +
    cp "$SRC_DIR/appconfig/tokensweeper.conf" "$stage/tokensweeper.conf"
    cp "$SRC_DIR/uninstall.sh" "$stage/uninstall.sh"
    fix_library_modes "$stage"
    if [ -d "$LIB_PARENT" ] && diff -r -q -x __pycache__ "$stage" "$LIB_PARENT" >/dev/null 2>&1; then
        rm -rf "$stage"
        fix_library_modes "$LIB_PARENT"
        note "unchanged: $LIB_PARENT/"
        return
    fi
    if [ -d "$LIB_PARENT" ]; then
        mv "$LIB_PARENT" "$old"
    fi
    mv "$stage" "$LIB_PARENT"
    rm -rf "$old"
    # Byte-compile now, as root, with the chosen interpreter: the page and the
    # hook then never compile their modules on a request or an account event.
    "$PYTHON" -m compileall -q "$LIB_PARENT/tokensweeper" >/dev/null
    changed
    note "installed: $LIB_PARENT/"
}

# `man tokensweeper`, written from the installed command's own parser by the chosen
# Python, so the page and `tokensweeper --help` never disagree (commands/manpage.py).
install_man_page() {
    local rendered
    new_temp
    rendered=$TEMP
    "$PYTHON" -B -I "$LIB_PARENT/tokensweeper/commands/manpage.py" </dev/null >"$rendered" ||
        die "cannot write the man page with $LIB_PARENT/tokensweeper/commands/manpage.py (above)."
    put_file "$rendered" "$MAN_PAGE" 0644
}

fix_library_modes() {
    chown -R 0:0 "$1"
    find "$1" -type d -exec chmod 0755 {} +
    find "$1" -type f -exec chmod 0644 {} +
    chmod 0755 "$1/uninstall.sh"
}

install_files() {
    say "Installing the library"
    mkdir -p "$(dirname "$LIB_PARENT")"
    install_library
    say "Installing the command, the hook and the WHM page"
    mkdir -p "$(dirname "$COMMAND")" "$(dirname "$HOOK")"
    put_entry_point "$SRC_DIR/bin/tokensweeper" "$COMMAND"
    install_man_page
    put_entry_point "$SRC_DIR/hooks/tokensweeper-hook" "$HOOK"
    own_dir "$CGI_DIR" 0755
    put_entry_point "$SRC_DIR/plugin/index.cgi" "$CGI_DIR/index.cgi"
    put_file "$SRC_DIR/appconfig/tokensweeper.png" "$ICON" 0644
}

install_config_and_state() {
    say "Config and state"
    own_dir "$STATE_DIR" 0700
    note "state directory (audit log, lock): $STATE_DIR (0700)"
    own_dir "$CONFIG_DIR" 0700
    if [ -e "$CONFIG" ]; then
        chown 0:0 "$CONFIG"
        chmod 0600 "$CONFIG"
        CONFIG_STATUS="kept"
        note "kept your config: $CONFIG"
    else
        note "writing the default config (preview mode):"
        put_file "$SRC_DIR/plugin/tokensweeper/default-config.yaml" "$CONFIG" 0600
        CONFIG_STATUS="new, with the defaults"
    fi
}

# schedule and mode from the config, read with the chosen interpreter + PyYAML
# so the installer does not depend on the command it is installing.
read_config() {
    local line
    CONFIG_ERROR="" SCHEDULE="daily" MODE="preview"
    while IFS= read -r line; do
        case "$line" in
            error=*) CONFIG_ERROR=${line#error=} ;;
            schedule=*) SCHEDULE=${line#schedule=} ;;
            mode=*) MODE=${line#mode=} ;;
        esac
    done < <("$PYTHON" - "$CONFIG" <<'PYEOF'
import sys

import yaml

try:
    with open(sys.argv[1]) as handle:
        doc = yaml.safe_load(handle)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ValueError("the top level is not a mapping of keys")
except Exception as exc:
    print("error=" + " ".join(str(exc).split()))
    doc = {}
schedule = doc.get("schedule", "daily")
# YAML 1.1 reads a bare `off` as false.
if schedule is False:
    schedule = "off"
print("schedule={}".format(schedule))
print("mode={}".format(doc.get("mode", "preview")))
PYEOF
    )
    if [ -n "$CONFIG_ERROR" ]; then
        warn "$CONFIG does not parse ($CONFIG_ERROR); using schedule: daily. Fix it and check with: tokensweeper check-config"
    fi
}

register_appconfig() {
    say "Registering the WHM page with AppConfig"
    # register_appconfig copies the file to /var/cpanel/apps/: the same copy means no change.
    cmp -s "$LIB_PARENT/tokensweeper.conf" "$ROOT/var/cpanel/apps/tokensweeper.conf" || changed
    "$CPANEL_BIN/register_appconfig" "$LIB_PARENT/tokensweeper.conf"
}

# cPanel's `manage_hooks delete script HOOK` exits 1 whenever one described
# event has no registration (always on a first install) and finds only entries
# matching the CURRENT descriptor, so the registry itself decides what changes:
# hookreg.py compares `manage_hooks list --output=JSON` with the installed
# hook's descriptor. From any state (nothing, part, an older release's
# descriptor, all of it) this ends with each described entry registered once.
register_hook() {
    local pass
    say "Registering the account-event hook and the creation guard with manage_hooks"
    for pass in change check; do
        plan_hook_registrations
        if [ ! -s "$PLAN" ]; then
            note "registered: every event $HOOK --describe names, once each"
            return
        fi
        [ "$pass" = change ] ||
            die "cPanel's hook registry still differs from $HOOK --describe after registering; see: $CPANEL_BIN/manage_hooks list"
        changed
        apply_hook_plan
    done
}

# Sets PLAN to a file of what hookreg.py says must change (empty: nothing).
plan_hook_registrations() {
    local registry described
    new_temp
    registry=$TEMP
    new_temp
    described=$TEMP
    new_temp
    PLAN=$TEMP
    "$CPANEL_BIN/manage_hooks" list --output=JSON </dev/null >"$registry" ||
        die "cannot read cPanel's hook registry: $CPANEL_BIN/manage_hooks list --output=JSON failed."
    "$HOOK" --describe </dev/null >"$described" || die "$HOOK --describe failed."
    "$PYTHON" "$LIB_PARENT/tokensweeper/hookreg.py" plan "$HOOK" "$registry" "$described" >"$PLAN" ||
        die "cannot tell which hook registrations to change (above)."
}

apply_hook_plan() {
    local line verb category event stage script args lines=()
    mapfile -t lines <"$PLAN"
    for line in "${lines[@]}"; do
        IFS=$'\t' read -r verb category event stage script args <<<"$line"
        case "$verb" in
            delete)
                note "removing $category::$event ($stage): not what the hook describes now"
                # A registration that is already gone is no failure: the check after says.
                "$CPANEL_BIN/manage_hooks" delete script "$script" --manual --category="$category" \
                    --event="$event" --stage="$stage" ${args:+"--action=$args"} </dev/null ||
                    warn "manage_hooks could not delete $category::$event ($stage) of $script"
                ;;
            add)
                "$CPANEL_BIN/manage_hooks" add script "$HOOK" </dev/null
                ;;
        esac
    done
}

# The minute stays what it was (or derives from the host name) so that reruns
# change nothing and a fleet of servers does not sweep at the same second.
cron_minute() {
    local minute=""
    if [ -f "$CRON_FILE" ]; then
        minute=$(awk '$6 == "root" && $7 ~ /tokensweeper$/ { print $1; exit }' "$CRON_FILE")
    fi
    case "$minute" in
        [0-9] | [1-5][0-9]) printf '%s\n' "$minute" ;;
        *) printf '%s' "$(uname -n)" | cksum | awk '{ print $1 % 60 }' ;;
    esac
}

install_cron() {
    local minute when rendered
    say "Scheduling (schedule: $SCHEDULE)"
    case "$SCHEDULE" in
        off)
            if [ -e "$CRON_FILE" ]; then
                rm -f "$CRON_FILE"
                changed
                note "removed: $CRON_FILE"
            fi
            SCHEDULE_TEXT="off (no cron entry)"
            return
            ;;
        hourly | daily) ;;
        *)
            warn "unknown schedule '$SCHEDULE' in $CONFIG (daily, hourly or off); scheduling daily."
            SCHEDULE=daily
            ;;
    esac
    minute=$(cron_minute)
    if [ "$SCHEDULE" = hourly ]; then
        when="$minute * * * *"
        SCHEDULE_TEXT="hourly at minute $minute"
    else
        when="$minute 4 * * *"
        SCHEDULE_TEXT="daily at 04:$(printf '%02d' "$minute")"
    fi
    new_temp
    rendered=$TEMP
    cat >"$rendered" <<EOF
# Token Sweeper: the unattended sweep, written by install.sh for
# \`schedule: $SCHEDULE\` in $CONFIG. To change it, edit
# \`schedule\` there (daily, hourly or off) and run install.sh again.
# The sweep prints only when it revoked, refused or failed; cron mails that to root.
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
$when root $COMMAND sweep --scheduled
EOF
    mkdir -p "$(dirname "$CRON_FILE")"
    put_file "$rendered" "$CRON_FILE" 0644
}

# A config problem should be seen now, not at 4 a.m.: ask the installed command.
check_installed_config() {
    local output
    say "Checking the config with the installed command"
    if output=$(TOKENSWEEPER_CONFIG="$CONFIG" TOKENSWEEPER_STATE_DIR="$STATE_DIR" "$COMMAND" check-config 2>&1); then
        printf '%s\n' "$output" | sed 's/^/    /'
    else
        printf '%s\n' "$output" | sed 's/^/    /' >&2
        warn "the config has problems (above). Unattended runs will refuse until you fix $CONFIG."
    fi
}

summary() {
    local title
    title=$(sed -n 's/^displayname=//p' "$SRC_DIR/appconfig/tokensweeper.conf" | head -n 1)
    cat <<EOF

Token Sweeper $NEW_VERSION is installed.
  Python:      $PYTHON (Python $PYTHON_VERSION)
  WHM page:    WHM > Plugins > ${title:-API Token Sweeper}
  Command:     $COMMAND   (try: tokensweeper plan)
  Config:      $CONFIG ($CONFIG_STATUS)
  Audit log:   $STATE_DIR/audit.log
  Schedule:    $SCHEDULE_TEXT
EOF
    case "$MODE" in
        enforce)
            cat <<EOF
  Mode:        enforce: scheduled and hook runs REVOKE stale tokens.
               To only report instead, set \`mode: preview\` in $CONFIG.
EOF
            ;;
        preview)
            cat <<EOF
  Mode:        preview: scheduled and hook runs only report what they would revoke.
               To let them revoke, set \`mode: enforce\` in $CONFIG
               and check it with: tokensweeper check-config
EOF
            ;;
        *)
            cat <<EOF
  Mode:        '$MODE' is not preview or enforce: unattended runs refuse to act
               until $CONFIG is fixed (see: tokensweeper check-config).
EOF
            ;;
    esac
    printf '  Uninstall:   %s/uninstall.sh\n' "$LIB_PARENT"
    # One stable line for automation: "Changes: none" on a rerun that changed nothing.
    if [ "$CHANGES" -eq 0 ]; then
        printf '  Changes:     none (everything was already in place)\n'
    else
        printf '  Changes:     %s\n' "$CHANGES"
    fi
}

main() {
    parse_args "$@"
    check_user
    set_paths
    # Every path is absolute from here on; cPanel's tools read some arguments as
    # paths relative to the current directory, so run them all from /.
    cd /
    check_cpanel
    check_sources
    NEW_VERSION=$(version_of "$SRC_DIR/plugin/tokensweeper")
    OLD_VERSION=$(version_of "$LIB_PARENT/tokensweeper")
    if [ -z "$OLD_VERSION" ]; then
        say "Installing Token Sweeper $NEW_VERSION into ${ROOT:-/}"
    elif [ "$OLD_VERSION" = "$NEW_VERSION" ]; then
        say "Reinstalling Token Sweeper $NEW_VERSION into ${ROOT:-/}"
    else
        say "Upgrading Token Sweeper $OLD_VERSION to $NEW_VERSION in ${ROOT:-/}"
    fi
    say "Checking Python"
    choose_python
    ensure_modules
    install_files
    install_config_and_state
    read_config
    register_appconfig
    register_hook
    install_cron
    check_installed_config
    summary
}

main "$@"
