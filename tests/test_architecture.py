"""The import contracts (pyproject.toml [tool.importlinter]) hold, so `make test` catches a wrong
import as `make lint` does: the apps depend one way and no app's modules import in a circle."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = (
    "branch_portal", "borrowers", "loans", "savings", "reports", "commune_day", "seeding", "api",
    "outbox",
)  # fmt: skip
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def _lint_imports(where: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"], cwd=where, capture_output=True, text=True, check=False
    )


def test_the_import_contracts_hold():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout
    assert "Contracts: 3 kept, 0 broken." in result.stdout


def test_a_borrowers_module_importing_loans_breaks_them(tmp_path):
    # The same contracts over a copy of the code in which borrowers imports loans.
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            target = tmp_path / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text())
    selectors = tmp_path / "borrowers" / "selectors.py"
    selectors.write_text("import loans  # noqa: F401\n" + selectors.read_text())
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    result = _lint_imports(tmp_path)
    assert result.returncode == 1
    assert "borrowers is not allowed to import loans" in result.stdout
    assert "borrowers.selectors -> loans (l.1)" in result.stdout
