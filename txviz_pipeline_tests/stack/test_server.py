"""The stack server's own start-up: moto's per-request package listing, read once."""

import os

from moto import backends

from txviz_pipeline.stack.server import cache_moto_module_list


def test_moto_module_list_is_read_once(monkeypatch):
    monkeypatch.setattr(backends, "list_of_moto_modules", backends.list_of_moto_modules)
    listed = list(backends.list_of_moto_modules())
    cache_moto_module_list()

    def no_listing(path):
        raise AssertionError(f"listed {path} again")

    monkeypatch.setattr(os, "listdir", no_listing)
    assert list(backends.list_of_moto_modules()) == listed
    assert {"s3", "firehose", "sns"} <= set(backends.list_of_moto_modules())
