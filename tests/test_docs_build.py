"""The user guide and the API reference build with Sphinx without a single warning.

A warning is a broken link, a docstring that does not render, a page left out
of every table of contents, an object documented twice: each is a place where
the docs mislead a reader, so ``-W`` turns it into a failure.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _helpers import public_modules

import sk_emotion

DOCS = Path(__file__).parents[1] / "docs"


def _automodules() -> list[str]:
    return [name for page in sorted((DOCS / "api").glob("*.rst"))
            for name in re.findall(r"^\.\. automodule:: (\S+)$", page.read_text(), re.MULTILINE)]


def _modules_defining_public_objects() -> set[str]:
    found = set()
    for name in public_modules():
        module = importlib.import_module(name)
        if any(getattr(getattr(module, attr, None), "__module__", None) == name
               for attr in getattr(module, "__all__", ())):
            found.add(name)
    return found


def test_the_api_reference_renders_every_public_module_once():
    documented = _automodules()
    assert len(documented) == len(set(documented)), "a module is rendered twice"
    missing = _modules_defining_public_objects() - set(documented)
    assert not missing, f"add an '.. automodule::' line to a page of docs/api/ for {sorted(missing)}"
    assert set(documented) <= set(public_modules()), "docs/api/ renders a module that is not public"


def test_the_api_index_lists_what_import_sk_emotion_gives():
    listed = re.findall(r"^   ~sk_emotion\.\S+\.(\w+)$", (DOCS / "api" / "index.rst").read_text(), re.MULTILINE)
    assert len(listed) == len(set(listed))
    # EMOTIONS is a tuple, described in the page's text.
    assert set(listed) == set(sk_emotion.__all__) - {"__version__", "EMOTIONS"}


@pytest.mark.slow
def test_sphinx_builds_the_docs_without_warnings(tmp_path):
    pytest.importorskip("sphinx", reason="Sphinx is in the test and docs extras")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-5000:]
    assert (tmp_path / "html" / "api" / "estimators.html").is_file()
    api = (tmp_path / "html" / "api" / "estimators.html").read_text()
    # numpydoc rendered the sections (not raw "Parameters\n----------" text).
    assert 'id="sk_emotion.estimators.classifier.EmotionClassifier"' in api and "Parameters" in api


def _python_blocks(page: Path) -> str:
    return "\n".join(re.findall(r"^```python\n(.*?)^```", page.read_text(), re.MULTILINE | re.DOTALL))


@pytest.mark.slow
def test_the_tutorial_runs_as_written(tmp_path):
    """Its blocks, in order, in one fresh interpreter: what a reader types."""
    code = _python_blocks(DOCS / "tutorial.md")
    assert code.count("\n") > 50  # the blocks were found
    env = {**os.environ, "SK_EMOTION_HOME": str(tmp_path / "home"), "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=550,
                            cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    for output in ("tutorial.skem", "explanation.png", "timeline.png"):
        assert (tmp_path / output).is_file(), output
    assert "emotionclassifier__temperature" in result.stdout
