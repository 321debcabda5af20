"""Units behind the third abuse pass (issue 12), and the abuse table kept in step with the suite."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from evaluate.walkforward.checks import duration_days, min_train_bars
from lab.config import SEED_MAX, ConfigError, check_seed, parse_yaml
from lab.engine import check_address

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


@pytest.mark.parametrize(
    ("text", "bar", "bars"),
    [("730d", "1h", 17520), ("2y", "1h", 17520), ("730d", "4h", 4380), ("104w", "1d", 728)],
)
def test_min_train_duration_scales_with_the_bar_size(text, bar, bars):
    assert min_train_bars(text, bar) == bars


@pytest.mark.parametrize("text", ["banana", "0d", "-5d", "3h", "", "1e3d"])
def test_min_train_refuses_what_is_not_a_positive_duration(text):
    with pytest.raises(ConfigError, match="--min-train .*not a duration"):
        duration_days(text)


def test_parse_yaml_refuses_duplicate_keys_and_alias_bombs_but_keeps_small_aliases():
    assert parse_yaml("a: &x [1, 2]\nb: *x\n") == {"a": [1, 2], "b": [1, 2]}
    with pytest.raises(Exception, match="key 'seed' given twice"):
        parse_yaml("seed: 1\nenv: {}\nseed: 2\n")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
    )
    with pytest.raises(Exception, match="alias bomb"):
        parse_yaml(bomb)


@pytest.mark.parametrize("seed", [-1, SEED_MAX + 1, 10**23, True, 1.5])
def test_check_seed_refuses_what_numpy_would_crash_on(seed):
    with pytest.raises(ConfigError, match="a seed must be an integer from 0 to 4294967295"):
        check_seed("--seed", seed)


def test_check_seed_accepts_the_whole_range():
    for seed in (0, 1, SEED_MAX):
        check_seed("--seed", seed)


@pytest.mark.parametrize("address", ["auto", "10.0.0.5:6379", "ray://head:10001", "host-1:6379"])
def test_ray_addresses_accepted(address):
    check_address(address)


@pytest.mark.parametrize("address", ["x", "banana:::", "host:", ":6379", "http://h:1/x"])
def test_ray_address_garbage_is_one_config_error(address):
    with pytest.raises(ConfigError, match="not a Ray cluster address"):
        check_address(address)


def test_the_abuse_table_lists_every_case_of_the_suite():
    """docs/abuse_cases.md is generated (python bench/abuse_table.py): a case added to the
    suite without regenerating the table fails here."""
    from abuse_cases import CASES

    table = (REPO / "docs" / "abuse_cases.md").read_text(encoding="utf-8")
    missing = [cid for cid, *_ in CASES if f"| {cid}: `" not in table]
    assert not missing, f"regenerate docs/abuse_cases.md (python bench/abuse_table.py): {missing}"


@pytest.mark.parametrize(
    ("errno_", "words"),
    [(28, "the disk is full"), (30, "read-only file system"), (36, "file name is too long")],
)
def test_run_cli_turns_a_machine_oserror_into_one_line_exit_2(errno_, words, capsys):
    """Disk full, a read-only file system, a name too long: the user's to fix, not a bug."""
    import os

    from lab.cli import run_cli

    def main() -> int:
        raise OSError(errno_, os.strerror(errno_), "/out/x.csv")

    assert run_cli(main) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: /out/x.csv: ") and words in err and err.count("\n") == 1


def test_run_cli_keeps_the_traceback_of_other_oserrors():
    from lab.cli import run_cli

    def main() -> int:
        raise OSError(5, "Input/output error")  # EIO: not a user's fix

    with pytest.raises(OSError, match="Input/output"):
        run_cli(main)


def test_registry_list_of_an_empty_or_missing_root_says_so(tmp_path, capsys):
    """A mistyped --root used to print nothing at all (exit 0): now it says what it found."""
    from agents.serving.model_registry import main

    assert main(["--root", str(tmp_path / "nope"), "list"]) == 0
    assert "(no such folder)" in capsys.readouterr().out
    assert main(["--root", str(tmp_path), "list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no models under") and "no such folder" not in out
