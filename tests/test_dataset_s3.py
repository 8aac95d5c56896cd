"""Dataset storage on an S3-compatible server: moto in server mode on 127.0.0.1, reached
through s3fs like any S3 endpoint. Uploads, profiles, downloads, kernel reads and writes,
and blob cleanup all work there; no credential shows in responses."""

from __future__ import annotations

import json

import boto3
import pytest
from conftest import make_project
from test_api_datasets import FRAME, as_bytes, upload
from test_execution import blocks, run

BUCKET = "ainb-test"
KEYS = {"key": "AKIDTEST", "secret": "s3cr3t-never-shown"}


@pytest.fixture
def s3_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=KEYS["key"],
        aws_secret_access_key=KEYS["secret"],
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=BUCKET)
    yield url, client
    server.stop()


@pytest.fixture
def extension_config(s3_server):
    url, _ = s3_server
    return {
        "dataset_storage_url": f"s3://{BUCKET}/datasets",
        "dataset_storage_options": {
            **KEYS,
            "endpoint_url": url,
            "client_kwargs": {"region_name": "us-east-1"},
        },
    }


def objects(client, prefix):
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


async def test_datasets_live_in_s3(api, s3_server):
    _, client = s3_server
    pid = await make_project(api)
    data = as_bytes("parquet")
    r = await upload(api, pid, "sales", data, filename="s.parquet")
    assert r.status == 201, r.body
    blob = r.body["version"]["blob"]
    did = r.body["dataset"]["id"]
    assert objects(client, "datasets/blobs/") == [f"datasets/blobs/{blob[:2]}/{blob}"]
    r = await api("GET", f"projects/{pid}/datasets/{did}/versions/1/profile")
    assert r.status == 200, r.body
    assert r.body["row_count"] == len(FRAME)
    r = await api("GET", f"projects/{pid}/datasets/{did}/versions/1/download")
    assert r.raw == data

    reader, _ = await blocks(
        api,
        pid,
        'df = ain.load("sales")\nain.save(df.head(2), "head")\nprint(len(df))',
        "pass",
    )
    out = await run(api, pid, reader)
    assert out["status"] == "succeeded", out
    assert out["outputs"][0]["text"] == "4\n"
    listing = (await api("GET", f"projects/{pid}/datasets")).body
    assert {d["name"]: d["latest"]["row_count"] for d in listing["items"]} == {
        "head": 2,
        "sales": 4,
    }
    assert len(objects(client, "datasets/blobs/")) == 2
    assert KEYS["secret"] not in json.dumps(listing)

    for dataset in listing["items"]:
        r = await api("DELETE", f"projects/{pid}/datasets/{dataset['id']}")
        assert r.status == 204
    assert objects(client, "datasets/blobs/") == []
