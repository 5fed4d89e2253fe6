"""The table of broken manifests: each case under invalid/ lists every error it must produce, exactly.

A case is a file or a directory; its `# expect: PATH:LINE:COL: MESSAGE` lines (paths relative to the
case's parent) are the complete, ordered list of errors the loader must report in one run.
"""

import os
import shutil
from pathlib import Path

import pytest

from reconciler import manifest
from reconciler.errors import ManifestError

CASES = Path(__file__).parent / "invalid"
EXPECT = "# expect: "


def expected_errors(case: Path) -> list[str]:
    files = [case] if case.is_file() else sorted(p for p in case.rglob("*") if p.is_file())
    lines = [line for file in files for line in file.read_bytes().decode("utf-8", "replace").splitlines()]
    return sorted(line.removeprefix(EXPECT) for line in lines if line.startswith(EXPECT))


def reported_errors(root: Path, err: ManifestError) -> list[str]:
    prefix = f"{root}{os.sep}"
    return sorted(f"{os.path.relpath(d.path, root)}:{d.line}:{d.col}: {d.message.replace(prefix, '')}"
                  for d in err.diagnostics if d.severity == "error")


CASE_COUNT = 87  # update when a case is added or removed: the table must never shrink unnoticed


def test_the_table_holds_every_case():
    cases = sorted(CASES.iterdir())
    assert len(cases) == CASE_COUNT, [case.name for case in cases]
    assert all(case.is_dir() or case.suffix == ".yaml" for case in cases), "a stray file is not a case"
    assert all(expected_errors(case) for case in cases), "every case lists its '# expect:' lines"


@pytest.mark.parametrize("case", sorted(CASES.iterdir()), ids=lambda p: p.name)
def test_invalid_manifest_is_reported_exactly(case: Path, tmp_path: Path):
    copy = tmp_path / case.name
    (shutil.copytree if case.is_dir() else shutil.copyfile)(case, copy)
    expected = expected_errors(case)
    assert expected, f"{case.name} lists no '# expect:' line"

    with pytest.raises(ManifestError) as raised:
        manifest.load(copy, env={})

    assert reported_errors(tmp_path, raised.value) == expected
