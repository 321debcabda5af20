"""Run every abuse case of the suites and write the table of their one-line messages.

    python bench/abuse_table.py [--out docs/abuse_cases.md]

The cases are the suites' own: ``tests/abuse_cases.py`` (every CLI; ``CASES``, run by
``tests/test_cli_abuse.py``) and ``tests/test_data_abuse.py`` (hostile candle files given to
``python -m envs.data clean``). Each runs in-process through the module's real ``__main__``
(``runpy``, so the real ``lab.cli.run_cli`` wrapper), in a fresh temp folder, and the table
records the CLI, the input, the exit code and the last stderr line (temp paths shown as
``<tmp>``). A row whose exit code is not 2 or whose stderr holds a traceback is flagged, and
the command exits 1 when any row is (the suites assert the same, case by case).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import runpy
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = re.compile(re.escape(tempfile.gettempdir()) + r"/abuse_[a-z]+_[A-Za-z0-9_]+")
TODAY = re.compile(r"now \(\d{4}-\d{2}-\d{2}\)")  # a message naming the run's own date
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))


def run_case(module: str, argv: list[str]) -> tuple[int, str]:
    """``python -m module *argv`` in-process: (exit code, stderr)."""
    err = io.StringIO()
    sys.argv = [module, *argv]
    code = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                runpy.run_module(module, run_name="__main__", alter_sys=False)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, err.getvalue()


def normalise(line: str, tmp: str) -> str:
    """A message as the table shows it: the case's temp folder as ``<tmp>``, the checkout as
    ``<repo>``, the suites' shared input folders as ``<fixtures>`` and the day it ran as
    ``now (<today>)`` (so the table reads the same from any clone on any day, and a test can
    compare exactly)."""
    line = line.replace(tmp, "<tmp>").replace(str(REPO), "<repo>")
    line = TODAY.sub("now (<today>)", line)
    return SHARED_FIXTURES.sub("<fixtures>", line)  # the suites' read-only inputs, built once


def case_input(cid: str, argv: list[str]) -> str:
    """The table's input cell of a CLI case."""
    return _cell(f"{cid}: `{' '.join(argv)}`")


def read_messages(table: str) -> dict[tuple[str, str], str]:
    """(CLI, input cell) -> one-line message of every row of a generated table."""
    out = {}
    for line in table.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 4 and cells[0] not in ("CLI", "---"):
            out[(cells[0], cells[1])] = cells[3].replace("\\|", "|")
    return out


def _row(cli: str, text: str, code: int, err: str, tmp: str) -> dict[str, str]:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    last = normalise(lines[-1], tmp) if lines else ""
    bad = code != 2 or "Traceback" in err
    return {"cli": cli, "input": text.replace(tmp, "<tmp>"), "code": str(code),
            "message": last, "flag": "FAIL" if bad else ""}  # fmt: skip


def cli_rows() -> list[dict[str, str]]:
    """Every case of ``tests/abuse_cases.CASES``."""
    from abuse_cases import CASES, fixtures

    rows = []
    for cid, module, argv, _fragment in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            fx = fixtures(Path(tmp))
            args = [a.format(**fx) for a in argv]
            # each case its own trial ledger, as in tests/test_cli_abuse.py (one case's record
            # is not the next one's history)
            os.environ["RLTRADE_RUNS_ROOT"] = str(Path(tmp) / "ledger_root")
            code, err = run_case(module, args)
            rows.append(_row(module, f"{cid}: `{' '.join(argv)}`", code, err, tmp))
    return rows


def data_rows() -> list[dict[str, str]]:
    """Every hostile file of ``tests/test_data_abuse.CASES`` given to ``envs.data clean``."""
    from test_data_abuse import CASES, _make

    rows = []
    for case, (extra, _words) in sorted(CASES.items()):
        with tempfile.TemporaryDirectory() as tmp:
            path = _make(case, Path(tmp))
            argv = ["clean", str(path), "--out", str(Path(tmp) / "out" / "c.csv.gz"), *extra]
            code, err = run_case("envs.data", argv)
            text = f"{case} file: `clean FILE --out F {' '.join(extra)}`"
            rows.append(_row("envs.data", text, code, err, tmp))
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_table(rows: list[dict[str, str]], out: Path) -> None:
    """The markdown table, with counts per CLI."""
    per_cli = Counter(r["cli"] for r in rows)
    failed = [r for r in rows if r["flag"]]
    head = [
        "# Abuse cases: every CLI's answer to bad input",
        "",
        "Generated by `python bench/abuse_table.py` from the suites' own cases "
        "(`tests/abuse_cases.py`, `tests/abuse_cases3.py`, `tests/test_data_abuse.py`): each "
        "input is run through the real CLI; the message is the last stderr line (temp paths "
        "as `<tmp>`). Expected for every row: exit code 2, one line, no traceback, nothing "
        "written. Ctrl-C (exit 130, the unfinished folder removed) is tested separately in "
        "`tests/test_cli_abuse.py`.",
        "",
        f"{len(rows)} cases, {len(failed)} not exit 2 or with a traceback; per CLI: "
        + ", ".join(f"{k} {v}" for k, v in sorted(per_cli.items()))
        + ".",
        "",
        "| CLI | input | exit | one-line message |",
        "|---|---|---|---|",
    ]
    body = [
        f"| {r['cli']} | {_cell(r['input'])} | {r['code']}{' ' + r['flag'] if r['flag'] else ''} "
        f"| {_cell(r['message'])} |"
        for r in rows
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(head + body) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=REPO / "docs" / "abuse_cases.md")
    a = p.parse_args(argv)
    os.chdir(REPO)  # cases name repository paths (data/run_x)
    with tempfile.TemporaryDirectory() as ledger:  # no case may touch runs/'s trial ledger
        os.environ["RLTRADE_RUNS_ROOT"] = ledger
        rows = cli_rows() + data_rows()
    write_table(rows, a.out)
    failed = [r for r in rows if r["flag"]]
    print(f"{len(rows)} cases, {len(failed)} failed; table: {a.out}")
    for r in failed:
        print(f"FAIL {r['cli']} {r['input']}: exit {r['code']}: {r['message']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
