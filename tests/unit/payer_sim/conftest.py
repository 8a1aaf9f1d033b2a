import pytest

from tests.unit.payer_sim.sim_helpers import claims


@pytest.fixture(scope="session")
def thousand_claims():
    return claims(1000)
