"""Sphinx configuration: the user guide (Markdown, via MyST) and the API reference (numpydoc docstrings).

Build: ``python -m sphinx -W -b html docs docs/_build/html`` (``pip install -e ".[docs]"``);
``tests/test_docs_build.py`` builds it the same way, so a warning fails the test suite.
"""

from sk_emotion import __version__

project = "sk-emotion"
author = "sk-emotion developers"
copyright = "sk-emotion developers"
release = version = __version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# table1_embedded.md is benchmark output, shown inside results.md as its CSV.
exclude_patterns = ["_build", "table1_embedded.md", "Thumbs.db", ".DS_Store"]

# MyST: "## Speed" is reachable as page.md#speed, as on GitHub.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# The API reference documents each object once, where it is defined
# (``automodule`` with ``:members:`` follows the module's ``__all__``).
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc sections carry the types
autosummary_generate = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()  # tests/test_docstrings.py validates them

html_theme = "alabaster"
html_title = f"sk-emotion {release}"
html_static_path = []


def _skip_metadata_request_setters(app, what, name, obj, skip, options):
    # scikit-learn adds set_{fit,score,...}_request to every estimator class; they
    # are scikit-learn's metadata-routing API, documented (and cross-referenced) there.
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_request_setters)
