"""fomm.media stays a leaf: no torch, nothing from model/engine/cli/train/synth."""

from __future__ import annotations

import ast
from pathlib import Path

import fomm.media

MEDIA = Path(fomm.media.__file__).parent
FORBIDDEN = ("torch", "torchvision", "fomm.model", "fomm.engine", "fomm.cli", "fomm.train",
             "fomm.synth")  # fmt: skip


def imported_modules(source: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{source.name}: relative import"
            names.add(node.module or "")
    return names


def test_media_sources_import_no_torch_and_nothing_above():
    sources = sorted(MEDIA.glob("*.py"))
    assert len(sources) >= 9
    for source in sources:
        for name in imported_modules(source):
            assert not any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN), (
                f"{source.name} imports {name}"
            )


def test_the_check_sees_imports():
    sample = MEDIA.parent / "cli" / "__init__.py"
    assert "fomm" in imported_modules(sample)


def test_importing_media_loads_no_torch():
    import subprocess
    import sys

    modules = [f"fomm.media.{path.stem}" for path in sorted(MEDIA.glob("*.py"))]
    code = "import sys\n" + "".join(f"import {name}\n" for name in modules)
    code += "import fomm.media.crop as c; c._cascade()\nprint('torch' in sys.modules)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
