"""The embedded AWS stack: moto server on 127.0.0.1 plus the Firehose processor hook."""

from txviz_pipeline.stack.control import StackError, StackInfo, StackStatus, down, status, up

__all__ = ["StackError", "StackInfo", "StackStatus", "down", "status", "up"]
