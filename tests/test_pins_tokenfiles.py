"""Pins for tokenfiles.py (issue 27's `make mutate`): what the hook's fast path, owner
discovery and the removal snapshot read from cPanel's WHM token files."""

import json
import os

import pytest

from tokensweeper import tokenfiles
from tokensweeper.tokenfiles import TokenFileError

DIGEST = "ab" * 64


@pytest.fixture
def files(tmp_path, monkeypatch):
    """cPanel's token directory under a private cPanel root (the default path)."""
    monkeypatch.setenv("TOKENSWEEPER_CPANEL_ROOT", str(tmp_path / "cpanel"))
    directory = tmp_path / "cpanel" / "var" / "cpanel" / "authn" / "api_tokens_v2" / "whostmgr"
    directory.mkdir(parents=True)
    return directory


def write(directory, user, document):
    text = document if isinstance(document, str) else json.dumps(document)
    (directory / (user + ".json")).write_text(text)


def record(name, create_time=1700000000, expires_at=None, ips=None, **extra):
    entry = {"name": name, "create_time": create_time, "expires_at": expires_at,
             "whitelist_ips": ips}
    entry.update(extra)
    return entry


def test_the_count_is_the_number_of_records_and_none_when_only_whmapi1_can_tell(files):
    write(files, "two", {"tokens": {"a" * 64: record("x"), "b" * 64: record("y")}})
    write(files, "emptied", {"tokens": {}})
    write(files, "odd", {"tokens": []})
    write(files, "list", ["tokens"])
    write(files, "broken", "{not json")
    assert tokenfiles.token_count("two") == 2
    assert tokenfiles.token_count("emptied") == 0
    assert tokenfiles.token_count("nobody") == 0
    assert tokenfiles.token_count("odd") is None
    assert tokenfiles.token_count("list") is None
    assert tokenfiles.token_count("broken") is None
    assert [tokenfiles.may_hold_tokens(u) for u in ("two", "emptied", "nobody", "broken")] == [
        True, False, False, True]


def test_an_explicit_directory_is_read_instead_of_cpanels(files, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    write(other, "amy", {"tokens": {DIGEST: record("t")}})
    assert tokenfiles.token_count("amy") == 0
    assert tokenfiles.token_count("amy", str(other)) == 1
    assert not tokenfiles.may_hold_tokens("amy")
    assert tokenfiles.may_hold_tokens("amy", str(other))
    assert tokenfiles.users_with_files(str(other)) == ["amy"]
    assert [t.name for t in tokenfiles.read_token_file("amy", str(other))] == ["t"]
    assert list(tokenfiles.read_records("amy", str(other))) == [DIGEST]


def test_users_with_files_are_the_json_files_whatever_they_hold(files, tmp_path):
    write(files, "amy", {"tokens": {}})
    write(files, "bob", {"tokens": {DIGEST: record("t")}})
    (files / "README").write_text("x")
    (files / "carl.json.bak").write_text("x")
    assert sorted(tokenfiles.users_with_files()) == ["amy", "bob"]
    assert tokenfiles.users_with_files(str(tmp_path / "missing")) == []


def test_the_snapshot_reads_names_times_ips_and_access_never_keys(files):
    write(files, "amy", {"tokens": {
        "c" * 64: record("zeta", create_time=100, expires_at=0),
        "d" * 64: record("alpha", create_time=200, expires_at=300, ips=["10.0.0.1"],
                         acls=["list-accts", 7, "create-acct"]),
        "e" * 64: record("full", acls=["all"]),
    }})
    tokens = tokenfiles.read_token_file("amy")
    assert [t.name for t in tokens] == ["alpha", "full", "zeta"]
    alpha, full, zeta = tokens
    assert (alpha.owner, alpha.create_time, alpha.expires_at) == ("amy", 200, 300)
    assert alpha.whitelist_ips == ("10.0.0.1",)
    assert alpha.acls == {"list-accts": 1, "create-acct": 1, "all": 0}
    assert not alpha.full_access
    assert full.acls == {"all": 1} and full.full_access
    assert zeta.acls == {"all": 1} and zeta.full_access  # no list: full access
    assert (zeta.create_time, zeta.expires_at) == (100, None)
    for token in tokens:
        assert "c" * 64 not in repr(vars(token) if hasattr(token, "__dict__") else token)


@pytest.mark.parametrize("document", [{"tokens": {}}, {"tokens": []}, {}, {"other": 1},
                                      ["tokens"], 5, None])
def test_a_file_without_records_is_no_token(files, document):
    write(files, "amy", document)
    assert tokenfiles.read_token_file("amy") == []
    assert tokenfiles.read_records("amy", str(files)) == {}


def test_a_missing_file_is_an_error_naming_it(files):
    path = str(files / "ghost.json")
    for read in (lambda: tokenfiles.read_token_file("ghost"),
                 lambda: tokenfiles.read_records("ghost", str(files))):
        with pytest.raises(TokenFileError) as error:
            read()
        assert str(error.value) == "cannot open %s: no such file" % path


@pytest.mark.parametrize("document, message", [
    ({"tokens": ["x"]}, "amy's token file: 'tokens' is not an object"),
    ({"tokens": "x"}, "amy's token file: 'tokens' is not an object"),
    ({"tokens": {DIGEST: "x"}}, "amy's token file holds a record without a name"),
    ({"tokens": {DIGEST: {"create_time": 1}}}, "amy's token file holds a record without a name"),
    ({"tokens": {DIGEST: {"name": 5, "create_time": 1}}},
     "amy's token file holds a record without a name"),
])
def test_a_file_in_another_shape_is_an_error_naming_the_owner(files, document, message):
    write(files, "amy", document)
    with pytest.raises(TokenFileError) as error:
        tokenfiles.read_token_file("amy")
    assert str(error.value) == message


def test_records_in_another_shape_are_an_error_naming_the_user(files):
    write(files, "amy", {"tokens": ["x"]})
    with pytest.raises(TokenFileError) as error:
        tokenfiles.read_records("amy", str(files))
    assert str(error.value) == "amy's token file: 'tokens' is not an object"


def test_a_record_the_token_parser_refuses_is_a_token_file_error(files):
    write(files, "amy", {"tokens": {DIGEST: record("t", create_time=None)}})
    with pytest.raises(TokenFileError) as error:
        tokenfiles.read_token_file("amy")
    assert "create_time is missing" in str(error.value)
    write(files, "amy", {"tokens": {DIGEST: record("t", acls={"all": "x"})}})
    with pytest.raises(TokenFileError):
        tokenfiles.read_token_file("amy")


def test_records_are_returned_as_the_file_holds_them(files):
    entry = record("t", acls=["list-accts"])
    write(files, "amy", {"tokens": {DIGEST: entry}})
    assert tokenfiles.read_records("amy", str(files)) == {DIGEST: entry}


def test_a_link_a_fifo_a_huge_file_and_non_json_are_named_never_followed(files, tmp_path,
                                                                          monkeypatch):
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"tokens": {DIGEST: record("t")}}))
    os.symlink(str(target), str(files / "link.json"))
    os.mkfifo(str(files / "fifo.json"))
    os.mkdir(str(files / "dir.json"))
    write(files, "text", "not json")
    write(files, "deep", "[" * 100000)
    write(files, "latin", b"\xff".decode("latin-1"))
    write(files, "big", {"tokens": {}, "pad": "x" * 8})  # 29 bytes
    write(files, "edge", '{"tokens": {}}  ')  # exactly 16 bytes
    problems = {}

    def problem(user):
        with pytest.raises(TokenFileError) as error:
            tokenfiles.read_records(user, str(files))
        problems[user] = str(error.value)

    for user in ("link", "fifo", "dir", "text", "deep"):
        problem(user)
    monkeypatch.setattr(tokenfiles, "MAX_BYTES", 16)
    problem("big")
    path = str(files) + "/"
    assert problems["link"] == "cannot open %slink.json: Too many levels of symbolic links" % path
    assert problems["fifo"] == "%sfifo.json is not a regular file" % path
    assert problems["dir"] == "cannot read %sdir.json: Is a directory" % path
    assert problems["text"].startswith("%stext.json is not JSON: " % path)
    assert problems["deep"].startswith("%sdeep.json is not JSON: " % path)
    assert problems["big"] == "%sbig.json is larger than any token file" % path
    assert tokenfiles.read_records("edge", str(files)) == {}
    assert tokenfiles.token_count("latin", str(files)) is None



def test_an_empty_file_and_null_hold_no_tokens_as_cpanel_reads_them(files):
    """cPanel leaves an empty file after api_token_revoke of an unknown name for a user who
    had no file, and `null` after UAPI Tokens::revoke does (tests/contract); its reader
    takes both as no tokens. Read so, the hook's fast path and owner discovery skip the
    user instead of asking whmapi1, and a removal snapshot finds nothing to keep."""
    write(files, "empty", "")
    write(files, "null", "null")
    write(files, "spaces", "  ")
    for user in ("empty", "null"):
        assert tokenfiles.token_count(user) == 0
        assert not tokenfiles.may_hold_tokens(user)
        assert tokenfiles.read_token_file(user) == []
        assert tokenfiles.read_records(user, str(files)) == {}
    assert tokenfiles.token_count("spaces") is None  # not JSON: only whmapi1 can tell
