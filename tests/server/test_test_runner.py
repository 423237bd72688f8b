from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_it_fails_when_no_tests_are_collected(tmp_path):
    (tmp_path / "test_nothing.py").write_text("# no tests here\n")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "pytest_strict.py"), "-p", "no:django",
         "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1
    assert "collected no tests" in result.stderr
