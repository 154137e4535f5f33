"""A corrupt (not merely cut short) compressed api_tokens_log archive: gzip raises
zlib.error and xz lzma.LZMAError, neither an OSError. Every command reads the usage
evidence, so such a file must be reported, never crash `list`, sweeps or the page."""

import gzip
import lzma

import pytest

from tests.test_pins_usage import NOW, line, load, logs


@pytest.mark.parametrize("codec,pack", [("gzip", gzip.compress), ("xz", lzma.compress)])
def test_a_corrupt_archive_is_an_error_of_the_evidence_not_a_crash(tmp_path, codec, pack):
    root = tmp_path / "cpanel"
    logs(root).mkdir(parents=True)
    whole = pack("".join(line(NOW - 86400 + i, "root", "t") for i in range(2000)).encode())
    damaged = whole[:40] + bytes(b ^ 0xFF for b in whole[40:90]) + whole[90:]
    (logs(root) / "api_tokens_log.1.gz").write_bytes(damaged)
    (logs(root) / "api_tokens_log").write_bytes(line(NOW - 60, "root", "live").encode())
    facts = load(root, tmp_path / "state")
    assert len(facts.errors) == 1 and facts.errors[0].startswith(
        "api_tokens_log.1.gz: damaged or incomplete %s data (" % codec)
    assert facts.get("root", "live").last_used == NOW - 60
