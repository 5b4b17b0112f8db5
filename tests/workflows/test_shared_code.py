"""The worker's workflow modules: each sandboxed run still gets its own module and class, built from one code object."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys

from services.worker_runtime import WORKFLOWS, _SharedCodeFinder, share_workflow_code


def _fresh_import(finder: _SharedCodeFinder, name: str):
    """Import ``name`` anew, as the sandbox does for every workflow run (outside sys.modules)."""
    spec = finder.find_spec(name, importlib.import_module(name.rpartition(".")[0]).__path__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_runs_share_code_but_not_classes() -> None:
    finder = _SharedCodeFinder({"workflows.review"})
    first, second = _fresh_import(finder, "workflows.review"), _fresh_import(finder, "workflows.review")
    assert first is not second and first.ReviewWorkflow is not second.ReviewWorkflow  # isolated runs
    assert first.ReviewWorkflow.run is not second.ReviewWorkflow.run
    assert first.ReviewWorkflow.run.__code__ is second.ReviewWorkflow.run.__code__  # read and compiled once


def test_other_modules_are_left_to_the_path_finder() -> None:
    assert _SharedCodeFinder({"workflows.review"}).find_spec("workflows.cycle", None) is None


def test_installed_once_for_every_workflow_module_and_package() -> None:
    share_workflow_code()
    share_workflow_code()
    finders = [f for f in sys.meta_path if isinstance(f, _SharedCodeFinder)]
    names = [n for f in finders for n in f.names]
    assert len(names) == len(set(names))  # a second call adds nothing
    assert {"workflows", *(cls.__module__ for cls in WORKFLOWS)} <= set(names)
    path_finder = sys.meta_path.index(importlib.machinery.PathFinder)
    assert all(sys.meta_path.index(f) < path_finder for f in finders)  # asked before the ordinary finder
