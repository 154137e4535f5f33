"""Connected Applications files that are not what cPanel writes: a deeply
nested document, a FIFO, a link. Each is a warning that keeps the owner's tokens,
never a crash, a hang, or another file's content."""

import json
import os
import threading

import pytest

from tokensweeper import connapps


@pytest.fixture
def cpanel(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENSWEEPER_CPANEL_ROOT", str(tmp_path))
    (tmp_path / "root").mkdir()
    (tmp_path / "var" / "cpanel" / "reseller-data" / "mallory").mkdir(parents=True)
    return tmp_path


def reseller_file(cpanel):
    return cpanel / "var" / "cpanel" / "reseller-data" / "mallory" / "conn-apps.json"


@pytest.mark.parametrize("as_string", [False, True])
def test_a_deeply_nested_file_is_a_warning_not_a_crash(cpanel, as_string):
    # Well under the size limit, but deeper than Python's recursion limit; an application's
    # data may also be stored as a JSON string, decoded a second time.
    nested = "[" * 200000 + "]" * 200000
    reseller_file(cpanel).write_text(json.dumps({"app": nested}) if as_string
                                     else '{"app": ' + nested + "}")

    apps = connapps.load()

    assert "mallory" in apps.unreadable and "mallory" not in apps.tokens
    assert any("mallory" in problem for problem in apps.problems)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_reading_what_its_writer_says(cpanel):
    path = str(reseller_file(cpanel))
    os.mkfifo(path)
    said = json.dumps({"app": {"token_name": "chosen-by-the-writer"}}).encode()

    def writer():
        try:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, said)
            finally:
                os.close(fd)
        except OSError:
            pass
    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        apps = connapps.load()
    finally:
        # A writer still waiting for a reader gets one (opening for reading with
        # O_NONBLOCK never waits), kept open until the writer is done.
        reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        thread.join()
        os.close(reader)

    assert "mallory" not in apps.tokens
    assert "not a regular file" in apps.unreadable["mallory"]


def test_a_link_to_another_owners_file_is_not_read_as_this_owners(cpanel):
    (cpanel / "root" / "conn-apps.json").write_text(
        json.dumps({"root-app": {"token_name": "shared-name"}}))
    reseller_file(cpanel).symlink_to(cpanel / "root" / "conn-apps.json")

    apps = connapps.load()

    assert apps.tokens["root"] == {"shared-name": "root-app"}
    assert "mallory" not in apps.tokens
    assert "link" in apps.unreadable["mallory"]


def test_an_application_name_cannot_write_control_characters_into_reports(cpanel):
    # The application's name is the file's key: it reaches the CLI's terminal and the
    # page in every reason that names it. An escape sequence, a newline forging a report
    # line, or a right-to-left override must arrive as harmless text.
    hostile = "app\x1b[2J\nroot/prospamfilter revoked\u202e"
    reseller_file(cpanel).write_text(json.dumps({hostile: {"token_name": "kept"}}))

    (app,) = connapps.load().tokens["mallory"].values()

    assert app.isprintable() and app.startswith("app") and "prospamfilter" in app
