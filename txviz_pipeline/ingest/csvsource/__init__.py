"""Reading a Sparkov CSV safely: header check, then every row checked in vectorised blocks.

The header is checked before any row is read (:mod:`.header`), so a wrong file (the ULB
creditcard.csv, a reordered export) fails at once with the missing and unexpected columns
named. Rows are then read in blocks of whole lines, each straight into its own buffer
(:mod:`.blocks`), checked on a small thread pool (numpy and pyarrow release the GIL) and
handed back in file order.

Each block is first scanned in place (:mod:`.scan`, with the 8-byte lane arithmetic of
:mod:`.lanes`): numpy finds every field's bytes and checks every value without a string per
value. When all its rows pass (nearly every block of a real file) that is the whole check.
Otherwise the block is read row by row (:mod:`.rows`): pyarrow parses it as strings, compute
kernels check and type each column (:mod:`.values`), and rows that fail (wrong field count,
unparseable number or timestamp, unknown category, broken UTF-8, ...) come out as
:class:`~.blocks.Reject` records with their line number and a reason instead of stopping the
read. The scan accepts only rows that the row checks accept with the same values, which the
tests check value by value.

:mod:`.chunks` puts the two together; for ``txviz validate`` (:mod:`.validate`) it then applies
the processor's rules to the rows that passed (:mod:`.screen`), so validate refuses exactly
what the conversion or the processor would. The NDJSON conversion
(:mod:`txviz_pipeline.ingest.convert`) lays out the scan's fields itself and refuses only
what cannot become a record. A reason names the field and what was expected, never the value.
"""
