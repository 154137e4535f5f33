"""Pins for statefiles.py (issue 27's `make mutate`): what an admin sees when a state file
is not root's alone, and what the state directory holds after each operation."""

import os
import stat

import pytest

from tokensweeper import statefiles
from tokensweeper.statefiles import UntrustedState

NOBODY = 65534
TAIL = ("(it must be root's alone: owned by root, not writable by group or others, "
        "not a link)")


@pytest.fixture
def state(tmp_path):
    directory = tmp_path / "state"
    statefiles.ensure_dir(str(directory))
    return directory


def refusal(call, *args):
    with pytest.raises(UntrustedState) as refused:
        call(*args)
    return refused.value


def test_the_refusal_names_the_path_why_and_how_to_fix_it(state):
    os.chmod(str(state), 0o775)
    error = refusal(statefiles.check_dir, str(state))
    assert str(error) == ("refusing to use %s: the directory is writable by group or others "
                          "(mode 0775) %s" % (state, TAIL))
    assert (error.path, error.why) == (str(state), "the directory is writable by group or "
                                                   "others (mode 0775)")


def test_a_directory_of_another_owner_is_refused_naming_its_uid(state):
    os.chown(str(state), NOBODY, 0)
    assert refusal(statefiles.check_dir, str(state)).why == (
        "the directory is owned by uid %d, not by root" % NOBODY)
    assert refusal(statefiles.list_names, str(state)).why.startswith("the directory is owned")


@pytest.mark.parametrize("mode, refused", [(0o700, False), (0o750, False), (0o755, False),
                                           (0o720, True), (0o702, True), (0o1777, True)])
def test_only_group_or_other_write_makes_a_directory_untrusted(state, mode, refused):
    os.chmod(str(state), mode)
    if refused:
        assert "writable by group or others (mode %04o)" % mode in str(
            refusal(statefiles.check_dir, str(state)))
    else:
        statefiles.check_dir(str(state))


def test_a_file_where_the_directory_should_be_is_refused(tmp_path):
    path = tmp_path / "state"
    path.write_text("x")
    error = refusal(statefiles.check_dir, str(path))
    assert (error.path, error.why) == (str(path), "it is not a directory")
    assert refusal(statefiles.ensure_dir, str(path)).why == "it is not a directory"
    with pytest.raises(FileNotFoundError):
        statefiles.check_dir(str(tmp_path / "missing"))


def test_the_directory_comes_from_the_environment_and_its_parents_are_made(tmp_path,
                                                                           monkeypatch):
    directory = tmp_path / "var" / "cpanel" / "tokensweeper"
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", str(directory))
    assert statefiles.ensure_dir() == str(directory)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    os.chmod(str(directory), 0o750)  # an existing directory keeps its mode
    assert statefiles.ensure_dir(str(directory)) == str(directory)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o750


def test_a_file_of_another_owner_or_writable_by_others_is_refused(state):
    path = state / "cache.json"
    path.write_text("{}")
    os.chmod(str(path), 0o600)
    os.chown(str(path), NOBODY, 0)
    error = refusal(statefiles.read_bytes, str(path))
    assert error.why == "the file is owned by uid %d, not by root" % NOBODY
    assert error.path == str(path)
    os.chown(str(path), 0, 0)
    os.chmod(str(path), 0o620)
    assert refusal(statefiles.read_bytes, str(path)).why == (
        "the file is writable by group or others (mode 0620)")
    os.chmod(str(path), 0o644)
    assert statefiles.read_bytes(str(path)) == b"{}"


def test_a_hard_linked_file_is_refused_naming_its_links(state, tmp_path):
    path = state / "audit.log"
    path.write_text("line\n")
    os.link(str(path), str(tmp_path / "elsewhere"))
    error = refusal(statefiles.read_bytes, str(path))
    assert (error.path, error.why) == (str(path), "it has 2 hard links")


def test_a_link_is_refused_and_a_missing_file_is_not_found(state, tmp_path):
    target = tmp_path / "target"
    target.write_text("precious")
    os.symlink(str(target), str(state / "csrf.secret"))
    error = refusal(statefiles.read_bytes, str(state / "csrf.secret"))
    assert (error.path, error.why) == (str(state / "csrf.secret"), "it is a symbolic link")
    with pytest.raises(FileNotFoundError):
        statefiles.read_bytes(str(state / "nothing"))
    assert target.read_text() == "precious"


def test_a_refused_file_leaves_no_descriptor_open(state):
    path = state / "cache.json"
    path.write_text("{}")
    os.chmod(str(path), 0o666)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        refusal(statefiles.open_file, str(path), os.O_RDONLY)
    assert len(os.listdir("/proc/self/fd")) == before


def test_reading_in_an_untrusted_directory_is_refused_before_the_file_is_opened(state):
    path = state / "cache.json"
    path.write_text("{}")
    os.chmod(str(path), 0o600)
    os.chmod(str(state), 0o777)
    assert "the directory is writable" in refusal(statefiles.read_bytes, str(path)).why


def test_creating_makes_a_0600_file_in_a_new_0700_directory(tmp_path):
    path = tmp_path / "new-state" / "sweep.lock"
    old = os.umask(0)
    try:
        fd = statefiles.open_file(str(path), os.O_RDWR | os.O_CREAT)
    finally:
        os.umask(old)
    os.close(fd)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_read_bytes_reads_all_or_up_to_the_limit(state):
    path = state / "audit.log"
    statefiles.write_atomically(str(path), b"0123456789")
    assert statefiles.read_bytes(str(path)) == b"0123456789"
    assert statefiles.read_bytes(str(path), 4) == b"0123"


def test_a_fifo_is_never_waited_on(state):
    os.mkfifo(str(state / "fifo"), 0o600)
    error = refusal(statefiles.read_bytes, str(state / "fifo"))
    assert (error.path, error.why) == (str(state / "fifo"), "it is not a regular file")


def test_write_atomically_replaces_the_file_and_leaves_no_temporary(state):
    path = state / "listing-cache.json"
    statefiles.write_atomically(str(path), b"one")
    statefiles.write_atomically(str(path), b"two")
    assert path.read_bytes() == b"two"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert statefiles.list_names(str(state)) == ["listing-cache.json"]


def test_write_atomically_creates_the_directory_0700(tmp_path):
    path = tmp_path / "fresh" / "a.json"
    statefiles.write_atomically(str(path), b"x")
    assert path.read_bytes() == b"x"
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_failed_rename_leaves_the_old_file_and_no_temporary(state, monkeypatch):
    path = state / "cache.json"
    statefiles.write_atomically(str(path), b"old")

    def failing_rename(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(statefiles.os, "rename", failing_rename)
    with pytest.raises(OSError):
        statefiles.write_atomically(str(path), b"new")
    assert path.read_bytes() == b"old"
    assert sorted(os.listdir(str(state))) == ["cache.json"]


def test_a_failed_write_leaves_no_temporary(state, monkeypatch):
    class Unwritable(Exception):
        pass

    real_fdopen = os.fdopen

    def fdopen(fd, *args, **kwargs):
        handle = real_fdopen(fd, *args, **kwargs)

        def write(data):
            raise Unwritable()

        handle.write = write
        return handle

    monkeypatch.setattr(statefiles.os, "fdopen", fdopen)
    with pytest.raises(Unwritable):
        statefiles.write_atomically(str(state / "cache.json"), b"new")
    assert os.listdir(str(state)) == []


def test_two_temporaries_for_one_file_never_share_a_name(state):
    names = {statefiles._temporary_name(str(state / "a.json")) for _ in range(50)}
    assert len(names) == 50
    for name in names:
        assert os.path.dirname(name) == str(state)
        assert os.path.basename(name).startswith(".a.json.") and name.endswith(".tmp")


def test_create_once_writes_a_new_file_whole_and_never_replaces_one(state):
    path = state / "csrf.secret"
    statefiles.create_once(str(path), b"first")
    statefiles.create_once(str(path), b"second")
    assert path.read_bytes() == b"first"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_nlink == 1  # the temporary link is gone
    assert statefiles.list_names(str(state)) == ["csrf.secret"]


def test_create_once_creates_the_directory(tmp_path):
    path = tmp_path / "fresh" / "csrf.secret"
    statefiles.create_once(str(path), b"key")
    assert path.read_bytes() == b"key"


def test_list_names_is_sorted_and_a_missing_directory_has_none(state, tmp_path):
    for name in ("b", "a", "c"):
        (state / name).write_text("x")
    assert statefiles.list_names(str(state)) == ["a", "b", "c"]
    assert statefiles.list_names(str(tmp_path / "missing")) == []


def test_remove_takes_a_planted_link_not_its_target_and_a_gone_file_is_fine(state, tmp_path):
    target = tmp_path / "precious"
    target.write_text("keep")
    os.symlink(str(target), str(state / "sweep.lock"))
    statefiles.remove(str(state / "sweep.lock"))
    statefiles.remove(str(state / "sweep.lock"))
    assert os.listdir(str(state)) == [] and target.read_text() == "keep"


def test_remove_in_an_untrusted_directory_is_refused(state):
    (state / "a").write_text("x")
    os.chmod(str(state), 0o777)
    refusal(statefiles.remove, str(state / "a"))
    assert (state / "a").exists()


def test_reading_in_a_missing_directory_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        statefiles.read_bytes(str(tmp_path / "state" / "audit.log"))
    assert os.listdir(str(tmp_path)) == []


def test_a_relative_state_directory_is_made_where_it_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(str(tmp_path))
    assert statefiles.ensure_dir("state") == "state"
    assert os.listdir(str(tmp_path)) == ["state"]


def test_a_new_state_directory_is_never_open_to_others_even_for_a_moment(tmp_path,
                                                                        monkeypatch):
    """mkdir itself gets 0700: a chmod after it would leave a moment in which another
    user could put a file into a world-writable directory (umask 0)."""
    seen = []
    real_chmod = os.chmod

    def chmod(path, mode):
        seen.append(stat.S_IMODE(os.stat(path).st_mode))
        real_chmod(path, mode)

    monkeypatch.setattr(statefiles.os, "chmod", chmod)
    old = os.umask(0)
    try:
        statefiles.ensure_dir(str(tmp_path / "state"))
    finally:
        os.umask(old)
    assert seen == [0o700]


def test_a_link_planted_at_the_temporary_name_is_never_written_through(state, tmp_path,
                                                                       monkeypatch):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    planted = str(state / ".cache.json.guessed.tmp")
    os.symlink(str(victim), planted)
    monkeypatch.setattr(statefiles, "_temporary_name", lambda path: planted)
    with pytest.raises(FileExistsError):
        statefiles.write_atomically(str(state / "cache.json"), b"evil")
    assert victim.read_text() == "precious"
    assert not (state / "cache.json").exists()
