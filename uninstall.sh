#!/bin/bash
# Remove Token Sweeper from a cPanel & WHM server. Run uninstall.sh --help.
set -euo pipefail
set -o errtrace
umask 022

PURGE=0

usage() {
    cat <<'EOF'
Usage: uninstall.sh [--purge] [--help]

Remove Token Sweeper: unregister the hook (manage_hooks delete) and the WHM
page (unregister_appconfig), then delete the library, the WHM page, the hook,
the command, the icon and the cron entry. Safe to run more than once, and on a
half-finished installation.

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
    ICON="$ROOT/usr/local/cpanel/whostmgr/docroot/addon_plugins/tokensweeper.png"
    CONFIG_DIR="$ROOT/etc/tokensweeper"
    STATE_DIR="$ROOT/var/cpanel/tokensweeper"
    CRON_FILE="$ROOT/etc/cron.d/tokensweeper"
}

check_user() {
    [ "$(id -u)" -eq 0 ] || die "must run as root. Try: sudo $0"
}

# The hook's registrations are deleted while the script still exists, because
# manage_hooks finds them by running it with --describe.
unregister_hook() {
    say "Unregistering the account-event hook"
    if [ ! -x "$CPANEL_BIN/manage_hooks" ]; then
        note "skipped: $CPANEL_BIN/manage_hooks is missing (cPanel is not installed)"
    elif [ ! -x "$HOOK" ]; then
        note "skipped: no hook script at $HOOK, so nothing of ours can be registered"
    else
        "$CPANEL_BIN/manage_hooks" delete script "$HOOK" ||
            warn "manage_hooks could not delete the hook registrations; check with: $CPANEL_BIN/manage_hooks list"
    fi
}

unregister_page() {
    say "Unregistering the WHM page"
    if [ -x "$CPANEL_BIN/unregister_appconfig" ]; then
        "$CPANEL_BIN/unregister_appconfig" tokensweeper
    else
        note "skipped: $CPANEL_BIN/unregister_appconfig is missing (cPanel is not installed)"
    fi
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
    remove "$CRON_FILE" "$COMMAND" "$HOOK" "$CGI_DIR" "$ICON" "$LIB_PARENT"
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
    say "Uninstalling Token Sweeper from ${ROOT:-/}"
    unregister_hook
    unregister_page
    remove_files
    keep_or_purge_data
    say "Token Sweeper is uninstalled."
}

main "$@"
