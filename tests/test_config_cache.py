"""The config's parsed YAML is remembered in the state dir, so a page load need not
import PyYAML; but an edited file, a damaged or foreign cache never change what
the config says."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import PLUGIN_DIR
from tokensweeper import config
from tokensweeper.config import ConfigError

TEXT = "mode: enforce\npolicy:\n  older_than_days: 90\nprotect:\n  names: [keep-*]\n"

LOADS_YAML = """
import sys
sys.path.insert(0, %r)
from tokensweeper import config
cfg = config.load()
print(cfg.mode, cfg.policy["older_than_days"], "yaml" in sys.modules)
""" % PLUGIN_DIR


@pytest.fixture
def setup(tmp_path, monkeypatch):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    path = tmp_path / "config.yaml"
    path.write_text(TEXT)
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", str(state))
    monkeypatch.setenv("TOKENSWEEPER_CONFIG", str(path))
    return path, state / config.CACHE_NAME


def load_in_a_new_process():
    out = subprocess.check_output([sys.executable, "-c", LOADS_YAML], env=dict(os.environ))
    return out.decode().split()


def test_a_second_load_of_the_same_file_needs_no_yaml_parser(setup):
    assert load_in_a_new_process() == ["enforce", "90", "True"]
    assert load_in_a_new_process() == ["enforce", "90", "False"]


def test_an_edited_file_is_read_again_even_with_the_same_size_and_time(setup):
    path, _ = setup
    config.load()
    info = os.stat(str(path))
    path.write_text(TEXT.replace("90", "30"))  # same length
    os.utime(str(path), ns=(info.st_atime_ns, info.st_mtime_ns))
    assert config.load().policy["older_than_days"] == 30


def test_a_remembered_config_is_checked_like_a_fresh_one(setup):
    path, cache = setup
    config.load()
    entry = json.loads(cache.read_text())
    entry["raw"]["mode"] = "destroy"  # a damaged cache for this very text
    cache.write_text(json.dumps(entry))
    with pytest.raises(ConfigError, match="mode: expected one of preview, enforce"):
        config.load()


def test_a_cache_others_could_write_is_ignored(setup):
    path, cache = setup
    config.load()
    entry = json.loads(cache.read_text())
    entry["raw"]["protect"]["names"] = []  # would unprotect keep-* tokens
    cache.write_text(json.dumps(entry))
    cache.chmod(0o666)
    assert config.load().protect["names"] == ["keep-*"]


def test_a_damaged_cache_is_ignored(setup):
    path, cache = setup
    config.load()
    cache.write_text("{not json")
    assert config.load().mode == "enforce"


def test_without_a_state_dir_the_file_is_still_read(setup, tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", str(tmp_path / "absent"))
    assert config.load().mode == "enforce"
    assert config.load().mode == "enforce"
    assert not (tmp_path / "absent").exists()


def test_yaml_errors_are_the_same_every_time(setup):
    path, _ = setup
    path.write_text("mode: enforce\nbogus: 1\n")
    for _ in range(2):
        with pytest.raises(ConfigError, match="bogus: unknown key"):
            config.load()
