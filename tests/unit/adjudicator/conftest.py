import pytest

from tests.unit.adjudicator.adj_helpers import NOW


@pytest.fixture
def now():
    return NOW
