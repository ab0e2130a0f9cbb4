"""The card-token key every processor test's handler reads."""

import pytest
import scoring
from cardstore import MemoryCardStore
from handler import CARD_TOKEN_KEY_ENV

from .builders import TEST_KEY


@pytest.fixture(autouse=True)
def card_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CARD_TOKEN_KEY_ENV, TEST_KEY)


@pytest.fixture(autouse=True)
def fresh_card_histories(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with no card seen, whichever tests ran before it."""
    monkeypatch.setitem(scoring._container, "store", MemoryCardStore())
