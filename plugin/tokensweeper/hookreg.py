"""What install.sh and uninstall.sh change in cPanel's hook registry (cpanel-facts.md §3).

cPanel's `manage_hooks delete script HOOK` fails (exit 1) whenever one
described event has no registration: on every first install, after a partial
registration, after an uninstall. And it only finds entries that match the
CURRENT descriptor, so an older release's entries survive it. So the scripts
decide from the registry itself (`manage_hooks list --output=JSON`) instead:

    python3 hookreg.py plan HOOK REGISTRY.json [DESCRIPTOR.json]

prints one tab-separated line per registration of HOOK to delete,
`delete CATEGORY EVENT STAGE SCRIPT ARGS`, for `manage_hooks delete script
SCRIPT --manual --category=.. --event=.. --stage=.. [--action=ARGS]`, then
`add` when `manage_hooks add script HOOK` has something to register. Nothing
at all means the registry already holds exactly the descriptor. Without a
descriptor every registration of HOOK is deleted (uninstall).

A registration is kept only when it is the one entry of HOOK for its event and
stage and runs as the descriptor says (script, flags); its weight and whether
it is enabled are the admin's (WHM > Manage Hooks), and its description only
words, so none of those is a reason to replace it (and reset the admin's).

Runs as a plain script with the server's Python (3.6 or newer), standard library only.
"""

import json
import os
import sys

# Compared between a registration and the descriptor; `weight`, `id`,
# `disabled` and `description` are left out on purpose (see above).
FLAGS = ("blocking", "escalateprivs")  # absent means 0
TEXTS = ("exectype",)
SCRIPTS = ("hook", "check", "rollback")  # command lines: the script's real path counts


class RegistryError(Exception):
    pass


def split_command(command):
    words = str(command).split()
    return (words[0], " ".join(words[1:])) if words else ("", "")


def same_script(one, other):
    return one == other or os.path.realpath(one) == os.path.realpath(other)


def normal_command(command):
    script, args = split_command(command)
    return (os.path.realpath(script) if script else "", args)


def flag(value):
    """1/0 whether stored as a number, a digit string or a JSON boolean (absent: 0)."""
    if value is None or value is False:
        return "0"
    if value is True:
        return "1"
    text = str(value).strip()
    return "0" if text in ("", "0") else text


def meaning(entry):
    """What an entry says, in a form a registration and a descriptor compare equal by."""
    said = {key: flag(entry.get(key)) for key in FLAGS}
    said.update({key: None if entry.get(key) is None else str(entry[key]) for key in TEXTS})
    said.update({key: None if entry.get(key) is None else normal_command(entry[key])
                 for key in SCRIPTS})
    return said


def registrations(listing):
    """[(category, event, entry)] from `manage_hooks list --output=JSON`."""
    if not isinstance(listing, dict):
        raise RegistryError("the hook registry is not a JSON object of categories")
    found = []
    for category, events in sorted(listing.items()):
        if not isinstance(events, dict):
            raise RegistryError("category %r of the hook registry is not an object" % category)
        for event, entries in sorted(events.items()):
            if not isinstance(entries, list):
                raise RegistryError("event %s::%s of the hook registry is not a list"
                                    % (category, event))
            found.extend((category, event, entry) for entry in entries
                         if isinstance(entry, dict))
    return found


def owned_by(hook, entry):
    script, _ = split_command(entry.get("hook", ""))
    return entry.get("exectype") == "script" and bool(script) and same_script(script, hook)


def plan(hook, listing, descriptor=()):
    """(deletes, add): deletes are (category, event, stage, script, args) of HOOK's
    registrations to remove; add is True when the descriptor has entries to register."""
    wanted = {}
    for entry in descriptor:
        key = (entry["category"], entry["event"], entry["stage"])
        wanted.setdefault(key, []).append(entry)
    ours = {}
    for category, event, entry in registrations(listing):
        if owned_by(hook, entry):
            ours.setdefault((category, event, str(entry.get("stage", ""))), []).append(entry)
    deletes, add = [], False
    for key in sorted(set(wanted) | set(ours)):
        registered, described = ours.get(key, []), wanted.get(key, [])
        if len(registered) == len(described) == 1 \
                and meaning(registered[0]) == meaning(described[0]):
            continue
        for entry in registered:
            script, args = split_command(entry["hook"])
            deletes.append(key + (script, args))
        add = add or bool(described)
    return deletes, add


def read_json(path, what):
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError) as error:
        raise RegistryError("cannot read %s from %s: %s" % (what, path, error))


def check_descriptor(document):
    if not isinstance(document, list) or not all(
            isinstance(entry, dict) and all(isinstance(entry.get(key), str)
                                            for key in ("category", "event", "stage", "hook"))
            for entry in document):
        raise RegistryError("the hook's --describe output is not a list of hook entries")
    return document


def main(argv):
    if len(argv) not in (3, 4) or argv[0] != "plan":
        sys.stderr.write("usage: hookreg.py plan HOOK REGISTRY.json [DESCRIPTOR.json]\n")
        return 2
    hook = argv[1]
    try:
        listing = read_json(argv[2], "the hook registry")
        descriptor = check_descriptor(read_json(argv[3], "the hook's descriptor")) \
            if len(argv) == 4 else []
        deletes, add = plan(hook, listing, descriptor)
    except RegistryError as error:
        sys.stderr.write("hookreg.py: %s\n" % error)
        return 1
    for fields in deletes:
        if any("\t" in field or "\n" in field for field in fields):
            sys.stderr.write("hookreg.py: cannot name the registration %r safely\n" % (fields,))
            return 1
        sys.stdout.write("\t".join(("delete",) + fields) + "\n")
    if add:
        sys.stdout.write("add\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
