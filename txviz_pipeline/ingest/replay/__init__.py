"""Replay an NDJSON dataset into Kinesis Firehose: batched, rate-limited, time-compressed,
resumable, in N processes.

The parts, in the order a batch meets them: ``options`` (what a replay may be asked, one
definition for the launchpad, the CLI and the code), ``plan`` (the dataset and the batch
cutter), ``schedule`` (time compression), ``pool`` (worker processes and their messages),
``ratelimit`` (one quota shared by the workers), ``send`` (PutRecordBatch, retries, dead
letters), ``progress`` and ``checkpoint`` (the low watermark a killed replay resumes from), and
``api`` (``replay()`` itself, and the names a caller needs: import them from there).
"""
