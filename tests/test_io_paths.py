"""Path expansion: files, directories (hidden names skipped), globs, URIs, and the errors for bad paths."""

from __future__ import annotations

import ctypes
import os
import threading

import pytest

from framework.errors import InputError
from framework.io import FileEntry, expand_paths
from framework.io.paths import _locate, display_path, join, resolve


def make_tree(root) -> None:
    files = {
        "a.txt": b"aa",
        "b.csv": b"bbb",
        "sub/c.txt": b"c",
        "sub/deeper/d.txt": b"dddd",
        "sub/_SUCCESS": b"",
        "_temporary/job/part-0.txt": b"x",
        ".hidden/e.txt": b"e",
        ".f.txt": b"f",
        "logs/2024-01/x.log": b"1",
        "logs/2024-02/y.log": b"22",
        "logs/2023-12/z.log": b"333",
    }
    for name, data in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def names(entries: list[FileEntry], root) -> list[str]:
    return [os.path.relpath(e.path, root) for e in entries]


def test_single_file_and_sizes(tmp_path):
    make_tree(tmp_path)
    path = tmp_path / "sub/deeper/d.txt"
    [entry] = expand_paths(str(path))
    assert entry == FileEntry(str(path), 4, path.stat().st_mtime_ns)


def test_directory_is_recursive_and_skips_hidden_and_underscore_names(tmp_path):
    make_tree(tmp_path)
    assert names(expand_paths(str(tmp_path)), tmp_path) == [
        "a.txt",
        "b.csv",
        "logs/2023-12/z.log",
        "logs/2024-01/x.log",
        "logs/2024-02/y.log",
        "sub/c.txt",
        "sub/deeper/d.txt",
    ]


def test_globs(tmp_path):
    make_tree(tmp_path)
    assert names(expand_paths(str(tmp_path / "*.txt")), tmp_path) == ["a.txt"]  # .f.txt is hidden
    assert names(expand_paths(str(tmp_path / "?.csv")), tmp_path) == ["b.csv"]
    assert names(expand_paths(str(tmp_path / "**/*.txt")), tmp_path) == ["a.txt", "sub/c.txt", "sub/deeper/d.txt"]
    assert names(expand_paths(str(tmp_path / "logs/2024-*")), tmp_path) == ["logs/2024-01/x.log", "logs/2024-02/y.log"]
    assert names(expand_paths(str(tmp_path / "logs/202[3]-*/*.log")), tmp_path) == ["logs/2023-12/z.log"]
    assert names(expand_paths(str(tmp_path / "logs/2024-0[!1]")), tmp_path) == ["logs/2024-02/y.log"]
    assert names(expand_paths(str(tmp_path / "sub/*")), tmp_path) == ["sub/c.txt", "sub/deeper/d.txt"]
    assert names(expand_paths(str(tmp_path / ".*.txt")), tmp_path) == [".f.txt"]  # asked for explicitly


def test_a_file_name_with_glob_characters_still_counts(tmp_path):
    (tmp_path / "odd[1].txt").write_text("x")
    assert names(expand_paths(str(tmp_path / "odd[1].txt")), tmp_path) == ["odd[1].txt"]
    (tmp_path / "odd1.txt").write_text("y")
    assert names(expand_paths(str(tmp_path / "odd[1].txt")), tmp_path) == ["odd1.txt"]  # a glob first


def test_several_specs_sorted_and_deduplicated(tmp_path):
    make_tree(tmp_path)
    entries = expand_paths([str(tmp_path / "sub"), str(tmp_path / "a.txt"), str(tmp_path / "sub/c.txt")])
    assert names(entries, tmp_path) == ["a.txt", "sub/c.txt", "sub/deeper/d.txt"]


def test_relative_paths_become_absolute(tmp_path, monkeypatch):
    make_tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert [e.path for e in expand_paths("sub/c.txt")] == [str(tmp_path / "sub/c.txt")]
    assert [e.path for e in expand_paths("*.csv")] == [str(tmp_path / "b.csv")]


def test_file_uris(tmp_path):
    make_tree(tmp_path)
    entries = expand_paths(f"file://{tmp_path}/sub")
    assert [e.path for e in entries] == [str(tmp_path / "sub/c.txt"), str(tmp_path / "sub/deeper/d.txt")]
    assert expand_paths(f"file://{tmp_path}/*.csv")[0].path == str(tmp_path / "b.csv")


def test_uri_helpers_keep_scheme_and_query():
    assert join("s3://bucket/out?region=x", "part-0.parquet") == "s3://bucket/out/part-0.parquet?region=x"
    assert join("/tmp/out", "_temporary", "j") == "/tmp/out/_temporary/j"
    assert display_path("file:///tmp/x") == "/tmp/x"
    # with the region given, building the S3 filesystem needs no network
    root, inner = _locate("s3://bucket/dir/key.txt?region=us-east-1")
    assert inner == "bucket/dir/key.txt"
    assert root.display("bucket/dir/other.txt") == "s3://bucket/dir/other.txt?region=us-east-1"
    fs, inner = resolve("s3://bucket/dir?region=us-east-1")
    assert fs.type_name == "s3" and inner == "bucket/dir"


def test_missing_path(tmp_path):
    with pytest.raises(InputError, match="no such file or directory") as info:
        expand_paths(str(tmp_path / "nope.txt"))
    assert str(tmp_path / "nope.txt") in str(info.value)


def test_glob_matching_nothing(tmp_path):
    make_tree(tmp_path)
    with pytest.raises(InputError, match="the pattern matched no files"):
        expand_paths(str(tmp_path / "*.parquet"))
    with pytest.raises(InputError, match="the pattern matched no files"):
        expand_paths(str(tmp_path / "missing-dir/*.txt"))


def test_directory_without_files(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "only_marker").mkdir()
    (tmp_path / "only_marker" / "_SUCCESS").write_bytes(b"")
    for d in ("empty", "only_marker"):
        with pytest.raises(InputError, match="the directory contains no files"):
            expand_paths(str(tmp_path / d))


def _without_dac_override(fn):
    """Run fn in a thread whose effective capabilities lack CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH.

    Root ignores file permissions through those two capabilities; Linux capabilities are per thread, so dropping
    them in a helper thread makes file modes apply to root there, and nowhere else.
    """
    libc = ctypes.CDLL(None, use_errno=True)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    outcome: dict = {}

    def run():
        header, data = Header(0x20080522, 0), (Data * 2)()
        if libc.capget(ctypes.byref(header), data) != 0:
            outcome["skip"] = "capget failed"
            return
        data[0].effective &= ~((1 << 1) | (1 << 2))
        if libc.capset(ctypes.byref(header), data) != 0:
            outcome["skip"] = "capset failed"
            return
        try:
            fn()
        except BaseException as e:  # handed to the test thread
            outcome["error"] = e

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "skip" in outcome:
        pytest.skip(outcome["skip"])
    if "error" in outcome:
        raise outcome["error"]


def _as_unprivileged(fn):
    if os.geteuid() == 0:
        _without_dac_override(fn)
    else:
        fn()


def test_unreadable_file(tmp_path):
    make_tree(tmp_path)
    secret = tmp_path / "sub" / "c.txt"
    secret.chmod(0)
    try:

        def check():
            with pytest.raises(InputError, match="permission denied") as info:
                expand_paths(str(tmp_path / "sub"))
            assert str(secret) in str(info.value)

        _as_unprivileged(check)
    finally:
        secret.chmod(0o644)


def test_unreadable_directory(tmp_path):
    make_tree(tmp_path)
    locked = tmp_path / "sub"
    locked.chmod(0)
    try:

        def check():
            with pytest.raises(InputError, match="permission denied"):
                expand_paths(str(locked))

        _as_unprivileged(check)
    finally:
        locked.chmod(0o755)
