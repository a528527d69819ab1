"""The core reads top-down: the loop imports no MLflow, Ray or Optuna; modules are small and say
their idea; function-local imports exist only for start-up time and say so."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gan_core"
MODULES = sorted(p for p in PACKAGE.rglob("*.py"))
MAX_LINES = 260


@pytest.mark.parametrize("module", ["gan_core.loop", "gan_core.gan_trainer", "gan_core.standalone", "gan_core"])
def test_core_imports_no_tracking_scheduler_or_search(module):
    code = (f"import sys, {module}; heavy = sorted({{m.split('.')[0] for m in sys.modules}} & "
            f"{{'mlflow', 'ray', 'optuna'}}); print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"{module} pulls in {out.stdout.strip()}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_module_is_small_and_says_its_idea(path):
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_LINES, f"{path.name} has {len(text.splitlines())} lines"
    doc = ast.get_docstring(ast.parse(text))
    if path.name == "__init__.py" and not text.strip():
        return
    assert doc and doc.splitlines()[0].strip(), f"{path.name} has no one-line docstring"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_function_local_imports_of_gan_core_say_why(path):
    """No module imports another inside a function to dodge a cycle; a deferred import carries its reason."""
    lines = path.read_text().splitlines()
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.level > 0:
                    pytest.fail(f"{path.name}:{inner.lineno} imports gan_core's {inner.module} inside a function")
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    line = lines[inner.lineno - 1]
                    assert "deferred" in line or "deferred" in lines[inner.lineno - 2], \
                        f"{path.name}:{inner.lineno}: a function-local import without its reason: {line.strip()}"
