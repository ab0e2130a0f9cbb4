"""The embedded AWS stack: moto server on 127.0.0.1 plus the Firehose processor hook."""
