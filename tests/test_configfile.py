"""Config files: YAML/JSON/TOML reading, ${VAR} expansion, dotted overrides, paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from semcom.configfile import (apply_override, apply_overrides, check_keys, copy_tree, expand_env,
                               read_config_file, resolve_path)
from semcom.errors import SemcomError


@pytest.mark.parametrize("name, text", [
    ("c.yaml", "a: {b: 1.5, c: [x, y]}\nflag: true\n"),
    ("c.yml", "a:\n  b: 1.5\n  c: [x, y]\nflag: yes\n"),
    ("c.json", '{"a": {"b": 1.5, "c": ["x", "y"]}, "flag": true}'),
    ("c.toml", 'flag = true\n[a]\nb = 1.5\nc = ["x", "y"]\n'),
])
def test_every_format_reads_the_same_mapping(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    assert read_config_file(tmp_path / name) == {"a": {"b": 1.5, "c": ["x", "y"]}, "flag": True}


@pytest.mark.parametrize("name, text, message", [
    ("bad.yaml", "a: [1, 2\nb: 3\n", r"bad.yaml is not valid \(line \d+\)"),
    ("bad.json", '{"a": 1,\n "b": }', r"bad.json is not valid \(line 2\)"),
    ("bad.toml", "a = \n", r"bad.toml is not valid.*line 1"),
    ("empty.yaml", "# nothing\n", "is empty"),
    ("empty.json", "  \n", "is empty"),
    ("list.yaml", "- 1\n- 2\n", "must hold a mapping of keys, got list"),
])
def test_bad_files_give_one_line_errors(tmp_path: Path, name: str, text: str, message: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(SemcomError, match=message) as err:
        read_config_file(tmp_path / name)
    assert "\n" not in str(err.value)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(SemcomError, match="config file not found"):
        read_config_file(tmp_path / "nope.yaml")
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(SemcomError, match="not a text file"):
        read_config_file(tmp_path / "bin.yaml")


def test_expand_env_in_nested_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CF_SET", "/data")
    monkeypatch.setenv("CF_EMPTY", "")
    monkeypatch.delenv("CF_UNSET", raising=False)
    raw = {"a": ["${CF_SET}/x", {"b": "${CF_UNSET:-dflt}-${CF_EMPTY:-e}"}], "n": 3, "s": "$HOME ${not a var}"}
    assert expand_env(raw) == {"a": ["/data/x", {"b": "dflt-e"}], "n": 3, "s": "$HOME ${not a var}"}
    assert raw["a"][0] == "${CF_SET}/x"  # the input is left as it was
    assert expand_env("${CF_UNSET:-}") == ""
    with pytest.raises(SemcomError, match=r"CF_UNSET is not set \(used in the config as \$\{CF_UNSET\}\)"):
        expand_env({"deep": ["${CF_UNSET}"]})


def test_overrides_reach_mappings_and_list_entries() -> None:
    raw = {"opt": {"lr": 1}, "systems": [{"cbr": "1/12"}, {"cbr": "1/6"}], "snr_db": [0, 20]}
    out = apply_overrides(raw, ["opt.lr=2.0e-3", "systems.1.cbr=1/16", "new.sub.key=[1, 2]", "name=", "t=a: b: c"])
    assert out == {"opt": {"lr": 2e-3}, "systems": [{"cbr": "1/12"}, {"cbr": "1/16"}], "snr_db": [0, 20],
                   "new": {"sub": {"key": [1, 2]}}, "name": None, "t": "a: b: c"}
    assert raw["systems"][1]["cbr"] == "1/6" and "new" not in raw  # apply_overrides copies
    with pytest.raises(SemcomError, match="not an index"):
        apply_override(raw, "snr_db.choices=[1, 4]")
    apply_override(raw, "snr_db.choices=[1, 4]", replaceable=("snr_db",))
    assert raw["snr_db"] == {"choices": [1, 4]}


@pytest.mark.parametrize("item, message", [
    ("steps", "must look like key=value"),
    ("=3", "empty key"),
    ("a..b=3", "empty key"),
    ("systems.2.cbr=1", r"systems.2 is not an index of a list of 1 entries"),
    ("systems.x=1", "systems.x is not an index"),
    ("opt.lr.x=1", "opt.lr is not a mapping or list"),
])
def test_bad_overrides(item: str, message: str) -> None:
    raw = {"opt": {"lr": 1}, "systems": [{"cbr": 1}]}
    with pytest.raises(SemcomError, match=message):
        apply_override(raw, item)
    assert raw == {"opt": {"lr": 1}, "systems": [{"cbr": 1}]}


def test_resolve_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CF_ROOT", str(tmp_path / "abs"))
    monkeypatch.delenv("CF_UNSET", raising=False)
    base = tmp_path / "configs"
    assert resolve_path("../data/x", base) == str(tmp_path / "data" / "x")
    assert resolve_path("${CF_ROOT}/y", base) == str(tmp_path / "abs" / "y")
    assert resolve_path("${CF_UNSET:-d}", base) == str(base / "d")
    assert resolve_path("~/z", base) == str(Path.home() / "z")


def test_check_keys_names_the_key_and_a_suggestion() -> None:
    check_keys({"lr": 1}, ["lr", "eps"], "optimizer")
    with pytest.raises(SemcomError, match=r"unknown config key 'optimizer.lrr'; did you mean 'lr'\? \(known: lr, eps\)"):
        check_keys({"lr": 1, "lrr": 2}, ["lr", "eps"], "optimizer")
    with pytest.raises(SemcomError, match=r"unknown config key 'zzz' \(known"):
        check_keys({"zzz": 1}, ["lr"])


def test_copy_tree_copies_containers_only() -> None:
    shared = object()
    raw = {"a": [1, (2, 3)], "obj": shared}
    out = copy_tree(raw)
    assert out == {"a": [1, [2, 3]], "obj": shared} and out["obj"] is shared
    out["a"].append(4)
    assert raw["a"] == [1, (2, 3)]
