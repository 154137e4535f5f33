#!/bin/bash
# Remove Token Sweeper from a cPanel & WHM server. Run uninstall.sh --help.
set -euo pipefail
set -o errtrace
umask 022

PURGE=0
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)

usage() {
    cat <<'EOF'
Usage: uninstall.sh [--purge] [--help]

Remove Token Sweeper: unregister the hook (every registration cPanel's hook
registry holds for it) and the WHM page (unregister_appconfig), then delete
the library, the WHM page, the hook, the command and its man page, the icon and
the cron entry.
Safe to run more than once, on a half-finished installation, from any directory.

The config (/etc/tokensweeper/) and the audit log and other state
(/var/cpanel/tokensweeper/) are kept, so a later install picks them up again,
unless --purge is given.

Options:
  --purge     also delete the config and the audit log
  -h, --help  show this help

Environment:
  INSTALL_ROOT  remove from this tree instead of / (tests use a fake cPanel tree)
EOF
}

say() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
warn() { printf 'uninstall.sh: warning: %s\n' "$*" >&2; }
die() {
    printf 'uninstall.sh: %s\n' "$*" >&2
    exit 1
}
on_error() {
    printf 'uninstall.sh: failed at line %s. Fix the problem above and run uninstall.sh again: it is safe to rerun.\n' "$1" >&2
}
trap 'on_error $LINENO' ERR

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            -h | --help)
                usage
                exit 0
                ;;
            --purge) PURGE=1 ;;
            *)
                printf 'uninstall.sh: unknown argument: %s\n\n' "$1" >&2
                usage >&2
                exit 2
                ;;
        esac
        shift
    done
}

# The same installed layout as install.sh (HACKING.md), under INSTALL_ROOT.
set_paths() {
    local given=${INSTALL_ROOT:-/}
    [ -d "$given" ] || die "INSTALL_ROOT=$given is not a directory."
    ROOT=$(cd "$given" && pwd -P)
    [ "$ROOT" = / ] && ROOT=""
    CPANEL_BIN="$ROOT/usr/local/cpanel/bin"
    LIB_PARENT="$ROOT/usr/local/lib/tokensweeper"
    CGI_DIR="$ROOT/usr/local/cpanel/whostmgr/docroot/cgi/tokensweeper"
    HOOK="$ROOT/usr/local/cpanel/3rdparty/bin/tokensweeper-hook"
    COMMAND="$ROOT/usr/local/sbin/tokensweeper"
    MAN_PAGE="$ROOT/usr/local/share/man/man8/tokensweeper.8"
    ICON="$ROOT/usr/local/cpanel/whostmgr/docroot/addon_plugins/tokensweeper.png"
    CONFIG_DIR="$ROOT/etc/tokensweeper"
    STATE_DIR="$ROOT/var/cpanel/tokensweeper"
    CRON_FILE="$ROOT/etc/cron.d/tokensweeper"
}

check_user() {
    [ "$(id -u)" -eq 0 ] || die "must run as root. Try: sudo $0"
}

# Temporary files to remove however the script ends.
TEMP_FILES=()
cleanup() {
    rm -f ${TEMP_FILES[@]+"${TEMP_FILES[@]}"}
}
trap cleanup EXIT

# Sets TEMP to a new temporary file (not called in $(...): the list must live in this shell).
new_temp() {
    TEMP=$(mktemp)
    TEMP_FILES+=("$TEMP")
}

# hookreg.py (the library's registry planner, see install.sh): the installed
# copy, or this script's own when run from the library or the source tree.
find_hookreg() {
    local candidate
    for candidate in "$SCRIPT_DIR/tokensweeper/hookreg.py" "$SCRIPT_DIR/plugin/tokensweeper/hookreg.py" \
        "$LIB_PARENT/tokensweeper/hookreg.py"; do
        if [ -f "$candidate" ]; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    return 1
}

# The interpreter install.sh chose (the hook's or the command's #! line), else the system's.
find_python() {
    local candidate
    for candidate in "$(sed -n '1s/^#!//p' "$HOOK" 2>/dev/null)" \
        "$(sed -n '1s/^#!//p' "$COMMAND" 2>/dev/null)" "${TOKENSWEEPER_PYTHON:-}" \
        /usr/bin/python3 /usr/libexec/platform-python; do
        case "$candidate" in
            /*) [ -x "$candidate" ] && printf '%s\n' "$candidate" && return 0 ;;
        esac
    done
    return 1
}

# Every registration of the hook script goes, whatever descriptor registered it,
# and the script need not exist any more: the registry itself says what is
# there (`manage_hooks delete script HOOK` would fail on any event not
# registered, and miss an older release's entries).
unregister_hook() {
    local python hookreg registry plan line verb category event stage script args lines=()
    say "Unregistering the account-event hook"
    if [ ! -x "$CPANEL_BIN/manage_hooks" ]; then
        note "skipped: $CPANEL_BIN/manage_hooks is missing (cPanel is not installed)"
        return
    fi
    if ! python=$(find_python) || ! hookreg=$(find_hookreg); then
        warn "no Python or no hookreg.py to read the hook registry with; remove what names $HOOK in: $CPANEL_BIN/manage_hooks list"
        return
    fi
    new_temp
    registry=$TEMP
    new_temp
    plan=$TEMP
    if ! "$CPANEL_BIN/manage_hooks" list --output=JSON </dev/null >"$registry" ||
        ! "$python" "$hookreg" plan "$HOOK" "$registry" >"$plan"; then
        warn "could not read cPanel's hook registry; remove what names $HOOK in: $CPANEL_BIN/manage_hooks list"
        return
    fi
    mapfile -t lines <"$plan"
    if [ ${#lines[@]} -eq 0 ]; then
        note "nothing registered for $HOOK"
        return
    fi
    for line in "${lines[@]}"; do
        IFS=$'\t' read -r verb category event stage script args <<<"$line"
        [ "$verb" = delete ] || continue
        "$CPANEL_BIN/manage_hooks" delete script "$script" --manual --category="$category" \
            --event="$event" --stage="$stage" ${args:+"--action=$args"} </dev/null ||
            warn "manage_hooks could not delete $category::$event ($stage); check with: $CPANEL_BIN/manage_hooks list"
    done
}

# By the conf file's absolute path when it is still there, else by name (from /).
unregister_page() {
    local conf="$LIB_PARENT/tokensweeper.conf"
    say "Unregistering the WHM page"
    if [ ! -x "$CPANEL_BIN/unregister_appconfig" ]; then
        note "skipped: $CPANEL_BIN/unregister_appconfig is missing (cPanel is not installed)"
        return
    fi
    [ -f "$conf" ] || conf=tokensweeper
    "$CPANEL_BIN/unregister_appconfig" "$conf" </dev/null
}

remove() {
    local path
    for path in "$@"; do
        if [ -e "$path" ] || [ -L "$path" ]; then
            rm -rf -- "$path"
            note "removed: $path"
        else
            note "already gone: $path"
        fi
    done
}

remove_files() {
    say "Removing files"
    remove "$CRON_FILE" "$COMMAND" "$MAN_PAGE" "$HOOK" "$CGI_DIR" "$ICON" "$LIB_PARENT"
    # Staging copies an interrupted install.sh may have left.
    rm -rf -- "$LIB_PARENT.new" "$LIB_PARENT.old"
}

keep_or_purge_data() {
    if [ "$PURGE" -eq 1 ]; then
        say "Purging the config and the audit log"
        remove "$CONFIG_DIR" "$STATE_DIR"
        return
    fi
    say "Keeping your data (run with --purge to delete it)"
    note "config:               $CONFIG_DIR/"
    note "audit log and state:  $STATE_DIR/"
}

main() {
    parse_args "$@"
    check_user
    set_paths
    # Every path is absolute from here on. unregister_appconfig reads a bare
    # name as a path relative to the current directory first: in the library
    # directory, `tokensweeper` is a directory and it fails. So run from /.
    cd /
    say "Uninstalling Token Sweeper from ${ROOT:-/}"
    unregister_hook
    unregister_page
    remove_files
    keep_or_purge_data
    say "Token Sweeper is uninstalled."
}

main "$@"
