"""Small environments shared by the source and data tests (adjax.envs with size overrides)."""

import pytest

from adjax import envs


def make_darkroom(size=3):
    return envs.make("darkroom", size=size)


def make_bandit(num_arms=2):
    return envs.make("bandit", num_arms=num_arms)


@pytest.fixture(scope="session")
def darkroom3():
    return make_darkroom(3)


@pytest.fixture(scope="session")
def bandit2():
    return make_bandit(2)
