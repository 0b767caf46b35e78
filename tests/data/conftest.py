"""Reuse the small environments of tests/sources/conftest.py."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "_adjax_test_envs", Path(__file__).parent.parent / "sources" / "conftest.py"
)
_envs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_envs)


@pytest.fixture(scope="session")
def darkroom3():
    return _envs.make_darkroom(3)


@pytest.fixture(scope="session")
def bandit2():
    return _envs.make_bandit(2)
