"""Replay an NDJSON dataset into Kinesis Firehose: batched, rate-limited, time-compressed,
resumable, in N processes.

The parts, in the order a batch meets them: ``options`` (what a replay may be asked, one
definition for the launchpad, the CLI and the code), ``plan`` (the dataset and the batch
cutter), ``schedule`` (time compression), ``pool`` (worker processes and their messages),
``ratelimit`` (one quota shared by the workers), ``send`` (PutRecordBatch and retries),
``endpoint`` (timeouts, and when an unreachable Firehose stops the replay), ``deadletters``
(records Firehose refused, redacted), ``progress`` and ``checkpoint`` (the low watermark a
killed or stopped replay resumes from, stalls and state changes), ``api`` (``replay()`` itself,
and the names a caller needs: import them from there), ``resend`` (sending dead letters again)
and ``command`` (``txviz replay``).
"""
