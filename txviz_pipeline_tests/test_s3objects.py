"""Reading many S3 objects at once: in the keys' order, and never far ahead of the reader."""

import io

import pytest
from botocore.exceptions import ClientError

from txviz_pipeline import aws
from txviz_pipeline.s3objects import read_objects


@pytest.mark.integration
def test_bodies_come_in_the_order_of_the_keys(moto_settings):
    s3 = aws.client("s3", moto_settings)
    s3.create_bucket(Bucket=moto_settings.bucket)
    keys = [f"landing/2026/12/02/16/obj-{n:02d}" for n in range(30)]
    for key in keys:
        s3.put_object(Bucket=moto_settings.bucket, Key=key, Body=f"{key}\n".encode())
    order = keys[::-1]  # not the listing's order: the caller's
    read = list(read_objects(s3, moto_settings.bucket, order, threads=4))
    assert read == [(key, f"{key}\n".encode()) for key in order]
    with pytest.raises(ClientError, match="NoSuchKey"):
        list(read_objects(s3, moto_settings.bucket, [keys[0], "landing/missing"], threads=4))


class CountingS3:
    """Answers every GET with the key as the body, and counts the GETs."""

    def __init__(self):
        self.gets: list[str] = []

    def get_object(self, Bucket: str, Key: str) -> dict:  # noqa: N803 (boto3's names)
        self.gets.append(Key)
        return {"Body": io.BytesIO(Key.encode())}


def test_a_reader_that_stops_early_fetches_only_a_few_ahead():
    s3 = CountingS3()
    bodies = read_objects(s3, "bucket", (f"k{n}" for n in range(1000)), threads=3)
    assert next(bodies) == ("k0", b"k0")
    bodies.close()
    assert 1 <= len(s3.gets) <= 2 * 3
