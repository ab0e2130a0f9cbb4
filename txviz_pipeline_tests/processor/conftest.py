"""The card-token key every processor test's handler reads."""

import pytest
from handler import CARD_TOKEN_KEY_ENV

from .builders import TEST_KEY


@pytest.fixture(autouse=True)
def card_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CARD_TOKEN_KEY_ENV, TEST_KEY)
