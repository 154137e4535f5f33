"""hookreg.py: what install.sh and uninstall.sh change in cPanel's hook registry.

The registry is what `manage_hooks list --output=JSON` prints (cPanel's
bin/manage_hooks: {category: {event: [entry]}}, each entry without category
and event, with the id and escalateprivs cPanel adds). The plan must take any
state (nothing, part, an older release's descriptor, everything, other
vendors' hooks on the same events) to exactly the descriptor, deleting only
registrations of this hook.

Runs on every Python of the matrix (3.6 syntax).
"""

import json
import os
import subprocess
import sys

import pytest

from tokensweeper import hookreg

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "plugin", "tokensweeper", "hookreg.py")
HOOK = "/usr/local/cpanel/3rdparty/bin/tokensweeper-hook"
VENDOR = "/usr/local/cpanel/3rdparty/bin/vendor-hook"


def described(category, event, stage, **fields):
    entry = {"category": category, "event": event, "stage": stage, "hook": HOOK,
             "exectype": "script", "weight": 100, "description": "Token Sweeper: " + event}
    entry.update(fields)
    return entry


DESCRIPTOR = [
    described("Whostmgr", "Accounts::suspendacct", "post"),
    described("Whostmgr", "Accounts::Remove", "pre"),
    described("Passwd", "ChangePasswd", "post"),
]


def stored(entry, **changes):
    """An entry as cPanel stores and lists it."""
    entry = {k: v for k, v in entry.items() if k not in ("category", "event")}
    entry.update(escalateprivs=0, id="x%d" % abs(hash(json.dumps(changes, sort_keys=True))))
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not None}


def listing(*pairs):
    """{category: {event: [stored entries]}} from (descriptor entry, stored entry) pairs."""
    result = {}
    for entry, kept in pairs:
        result.setdefault(entry["category"], {}).setdefault(entry["event"], []).append(kept)
    return result


def complete(**changes):
    return listing(*[(entry, stored(entry, **changes)) for entry in DESCRIPTOR])


def test_nothing_registered_adds_and_deletes_nothing():
    assert hookreg.plan(HOOK, {}, DESCRIPTOR) == ([], True)


def test_everything_registered_changes_nothing():
    assert hookreg.plan(HOOK, complete(), DESCRIPTOR) == ([], False)


def test_numbers_as_strings_and_admin_changes_are_still_the_same_registration():
    # cPanel's YAML may hand numbers back as strings; weight and disabled are the admin's,
    # and a reworded description is no reason to reset them.
    assert hookreg.plan(HOOK, complete(weight="5", escalateprivs="0", disabled=1,
                                       description="Token Sweeper 0.9"),
                        DESCRIPTOR) == ([], False)


def test_a_partial_registration_is_completed_by_adding():
    partial = listing((DESCRIPTOR[0], stored(DESCRIPTOR[0])))
    assert hookreg.plan(HOOK, partial, DESCRIPTOR) == ([], True)


def test_an_older_descriptors_registrations_are_deleted_then_added_again():
    old = complete()
    old["Whostmgr"]["Accounts::Remove"][0].update(blocking=1)  # the old release blocked
    old["Whostmgr"]["Accounts::Create"] = [stored(described("Whostmgr", "Accounts::Create",
                                                           "post"))]  # no longer hooked
    old["Passwd"]["ChangePasswd"].append(stored(DESCRIPTOR[2], id="twice"))  # doubled
    deletes, add = hookreg.plan(HOOK, old, DESCRIPTOR)
    assert deletes == [
        ("Passwd", "ChangePasswd", "post", HOOK, ""),
        ("Passwd", "ChangePasswd", "post", HOOK, ""),
        ("Whostmgr", "Accounts::Create", "post", HOOK, ""),
        ("Whostmgr", "Accounts::Remove", "pre", HOOK, ""),
    ]
    assert add is True


def test_other_vendors_hooks_are_never_touched():
    registry = complete()
    registry["Whostmgr"]["Accounts::Remove"].insert(0, {
        "hook": VENDOR, "exectype": "script", "stage": "pre", "weight": 50, "id": "v",
        "blocking": 1})
    registry["Whostmgr"]["Accounts::Create"] = [{"hook": "Vendor::Module::hook",
                                                 "exectype": "module", "stage": "post"}]
    assert hookreg.plan(HOOK, registry, DESCRIPTOR) == ([], False)
    assert hookreg.plan(HOOK, registry) == ([
        ("Passwd", "ChangePasswd", "post", HOOK, ""),
        ("Whostmgr", "Accounts::Remove", "pre", HOOK, ""),
        ("Whostmgr", "Accounts::suspendacct", "post", HOOK, ""),
    ], False)


def test_a_registration_with_arguments_is_deleted_with_them():
    registry = listing((DESCRIPTOR[0], stored(DESCRIPTOR[0], hook=HOOK + " --old-flag")))
    deletes, add = hookreg.plan(HOOK, registry, DESCRIPTOR)
    assert deletes == [("Whostmgr", "Accounts::suspendacct", "post", HOOK, "--old-flag")]
    assert add is True


def test_a_registration_through_a_symlink_is_this_hook(tmp_path):
    real = tmp_path / "real-hook"
    real.write_text("")
    link = tmp_path / "link-hook"
    link.symlink_to(real)
    entry = described("Whostmgr", "Accounts::suspendacct", "post", hook=str(real))
    registry = listing((entry, stored(entry, hook=str(link))))
    assert hookreg.plan(str(real), registry, [entry]) == ([], False)


@pytest.mark.parametrize("bad", [[], {"Whostmgr": []}, {"Whostmgr": {"Accounts::Remove": {}}}])
def test_a_registry_of_another_shape_is_an_error(bad):
    with pytest.raises(hookreg.RegistryError):
        hookreg.plan(HOOK, bad, DESCRIPTOR)


def run(tmp_path, *args, **documents):
    paths = []
    for name in ("registry", "descriptor"):
        if name in documents:
            path = tmp_path / (name + ".json")
            path.write_text(documents[name])
            paths.append(str(path))
    proc = subprocess.Popen([sys.executable, SCRIPT] + list(args) + paths,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, cwd="/")
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def test_the_script_prints_tab_separated_deletes_then_add(tmp_path):
    old = complete()
    old["Whostmgr"]["Accounts::Remove"][0].update(blocking=1)
    code, out, err = run(tmp_path, "plan", HOOK, registry=json.dumps(old, separators=(",", ":")),
                         descriptor=json.dumps(DESCRIPTOR))
    assert (code, err) == (0, "")
    assert out == "delete\tWhostmgr\tAccounts::Remove\tpre\t%s\t\nadd\n" % HOOK
    code, out, err = run(tmp_path, "plan", HOOK, registry=json.dumps(complete()),
                         descriptor=json.dumps(DESCRIPTOR))
    assert (code, out, err) == (0, "", "")
    code, out, _ = run(tmp_path, "plan", HOOK, registry=json.dumps(complete()))
    assert (code, out.count("delete\t"), "add" in out) == (0, 3, False)


def test_the_script_refuses_what_it_cannot_read(tmp_path):
    code, out, err = run(tmp_path, "plan", HOOK, registry="Invalid output format",
                         descriptor=json.dumps(DESCRIPTOR))
    assert code == 1 and out == "" and "cannot read the hook registry" in err
    code, out, err = run(tmp_path, "plan", HOOK, registry="{}", descriptor='{"hook": 1}')
    assert code == 1 and "not a list of hook entries" in err
    code, _, err = run(tmp_path, "plan")
    assert code == 2 and "usage:" in err
