"""The bad-input table: every malformed input of the test suite, what raymt prints, its exit code.

Run: ``python -m benchmarks.bad_input`` (about 20 s on 2 cores; builds or reuses the tiny base in
``--cache``). The cases are the ones ``tests/test_bad_input.py`` asserts on (its CONFIG_CASES,
DATA_CASES, CLI_CASES, EXPORT_CASES and MISSING_EXTRA_CASES, loaded from that file, so the table and the tests cannot
drift apart); each is run through the real CLI in this process, and the time is from the command's start to its refusal: no Ray is started for any of them.
Writes benchmarks/out/bad_input.csv and prints a Markdown table last.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _cases_module():
    sys.path.insert(0, str(ROOT / "tests"))  # the test module's helpers (tests/hand_made_results.py)
    spec = importlib.util.spec_from_file_location("raymt_bad_input_cases", ROOT / "tests" / "test_bad_input.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(argv: list[str]) -> tuple[int, str, float]:
    from raymt.cli import main

    err = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue().strip(), time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "raymt-bench-cache", help="where the tiny base is built or reused"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = parser.parse_args(argv)

    import ray

    from raymt.model.tiny import TinyModelSpec, build_tiny_base

    cases = _cases_module()
    base = build_tiny_base(TinyModelSpec(), args.cache, log=lambda m: None)
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for case, text, _ in cases.CONFIG_CASES:
            path = tmp / case / f"{case}.yaml"
            path.parent.mkdir()
            path.write_text(text)
            rows.append((case, f"raymt validate {path.name}", *_run(["validate", str(path)])))
        for case, make, _ in cases.DATA_CASES:
            folder = tmp / case
            folder.mkdir()
            path = make(folder, base)
            rows.append((case, f"raymt train {path.name}", *_run(["train", str(path)])))
        for case, make, _, _ in cases.CLI_CASES:
            folder = tmp / case
            folder.mkdir()
            argv = make(folder)
            shown = " ".join("DIR" if a == str(folder) else Path(a).name if a.startswith(str(folder)) else a for a in argv)
            rows.append((case, f"raymt {shown}", *_run(argv)))
        (tmp / "export-cases").mkdir()
        results, exported = cases.make_export(tmp / "export-cases", base)
        for case, make, _ in cases.EXPORT_CASES:
            folder = tmp / case
            folder.mkdir()
            argv = make(folder, results, exported)
            shown = " ".join(Path(a).name if a.startswith(tmp_name) else a for a in argv)
            rows.append((case, f"raymt {shown}", *_run(argv)))
        for case, module, make, _ in cases.MISSING_EXTRA_CASES:
            folder = tmp / case
            folder.mkdir()
            argv = make(folder)
            with cases.missing_module(module):
                rows.append((case, f"raymt {argv[0]} DIR (without {module} installed)", *_run(argv)))
        stdin, sys.stdin = sys.stdin, io.StringIO("")
        try:
            rows.append(("translate_empty_stdin", "raymt translate export < /dev/null", *_run(["translate", str(exported)])))
        finally:
            sys.stdin = stdin
    df = pd.DataFrame(rows, columns=["case", "command", "exit_code", "message", "seconds"])
    df["message"] = df["message"].str.replace(tmp_name, "<tmp>", regex=False).str.replace(str(args.cache), "<cache>", regex=False)
    df["ray_started"] = ray.is_initialized()
    args.out.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out / "bad_input.csv", index=False)
    print(
        f"{len(df)} inputs; exit code 2 for {int((df['exit_code'] == 2).sum())}; "
        f"no traceback in any: {not df['message'].str.contains('Traceback').any()}; Ray started: {ray.is_initialized()}; "
        f"slowest refusal {df['seconds'].max():.2f} s\n"
    )
    print("| case | command | exit | message |\n|---|---|---|---|")
    for r in df.itertuples():
        msg = r.message.replace("|", "\\|").replace("\n", " ")
        print(f"| {r.case} | `{r.command}` | {r.exit_code} | {msg[:220]}{'…' if len(msg) > 220 else ''} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
