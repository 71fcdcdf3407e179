"""The same input and output code on S3 URIs, against moto's in-process S3 server (skipped without moto)."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from framework.errors import InputError
from framework.io import Parquet, Text, commit_output, expand_paths, read_output, write_part

moto_server = pytest.importorskip("moto.server")

_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3():
    """(filesystem, query) for a fresh bucket "paxflow" on a local moto server."""
    old = {k: os.environ.get(k) for k in _CREDENTIALS}
    os.environ.update(_CREDENTIALS)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"{host}:{port}"
        fs = pafs.S3FileSystem(
            endpoint_override=endpoint, scheme="http", region="us-east-1", allow_bucket_creation=True
        )
        fs.create_dir("paxflow")
        yield fs, f"endpoint_override={endpoint}&scheme=http&region=us-east-1"
    finally:
        server.stop()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_expand_and_read_text_on_s3(s3):
    fs, query = s3
    data = "".join(f"line {i} ü\n" for i in range(500)).encode()
    for name in ("in/a.txt", "in/sub/b.txt", "in/_SUCCESS"):
        with fs.open_output_stream(f"paxflow/{name}") as f:
            f.write(data)
    entries = expand_paths(f"s3://paxflow/in?{query}")
    assert [e.path for e in entries] == [f"s3://paxflow/in/a.txt?{query}", f"s3://paxflow/in/sub/b.txt?{query}"]
    assert entries[0].size == len(data)
    assert [e.path for e in expand_paths(f"s3://paxflow/in/**/*.txt?{query}")] == [e.path for e in entries]
    fmt = Text()
    splits = fmt.splits(f"s3://paxflow/in/a.txt?{query}", 1000)
    assert len(splits) > 3
    rows = [r for s in splits for b in fmt.read(s) for r in b.column(0).to_pylist()]
    assert rows == data.decode().splitlines()
    with pytest.raises(InputError, match="no such file or directory"):
        expand_paths(f"s3://paxflow/missing?{query}")


def test_parquet_and_output_commit_on_s3(s3):
    fs, query = s3
    table = pa.table({"k": [f"w{i}" for i in range(100)], "n": list(range(100))})
    with fs.open_output_stream("paxflow/pq/t.parquet") as f:
        pq.write_table(table, f, row_group_size=10)
    fmt = Parquet()
    splits = fmt.splits(f"s3://paxflow/pq?{query}", 1)
    assert len(splits) == 10
    assert pa.Table.from_batches([b for s in splits for b in fmt.read(s)]).equals(table)

    out = f"s3://paxflow/out?{query}"
    parts = {p: write_part(table.slice(p * 50, 50), out, "job", p, 0) for p in range(2)}
    final = commit_output(out, "job", parts, "parquet", overwrite=False)
    assert final == [f"s3://paxflow/out/part-0000{p}.parquet?{query}" for p in range(2)]
    assert read_output(out).equals(table)
    names = sorted(i.base_name for i in fs.get_file_info(pafs.FileSelector("paxflow/out", recursive=True)))
    assert names == ["_SUCCESS", "part-00000.parquet", "part-00001.parquet"]
