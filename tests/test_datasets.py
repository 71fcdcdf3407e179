"""Tests of the data generators in `datasets/` (installed as `framework.datagen`): determinism, sizes, the shape
of each distribution and the key relations the benchmarks rely on. Small sizes only, no Ray."""

from __future__ import annotations

import collections
import hashlib
import os
import re
import subprocess
import sys
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from framework.datagen import common, dbbench, tpch, zipf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The word-count oracle's tokenizer: maximal runs of letters and digits, lower-cased. `[^\W_]` is \w without
# the underscore, which for this text (no combining marks) is [\p{L}\p{N}].
TOKEN = re.compile(r"[^\W_]+")
SMALL_VOCABULARY = 5_000


def _digest(paths: list[str]) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _count_tokens(paths: list[str]) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    for p in paths:
        counts.update(t.lower() for t in TOKEN.findall(_read(p)))
    return counts


# ---------------------------------------------------------------------------------------------- parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("512MiB", 512 << 20), ("64M", 64 << 20), ("1G", 1 << 30), ("1g", 1 << 30), ("4096", 4096),
        ("1.5GB", 1_500_000_000), ("10KB", 10_000), ("2k", 2048), ("3 MiB", 3 << 20), ("0", 0),
        ("1e6", 1_000_000), (123, 123), ("0.5K", 512), ("1T", 1 << 40),
    ],
)
def test_parse_size(text, expected):
    assert common.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "12X", "-5M", "1.2.3G", "M", "5 M B", -1])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError):
        common.parse_size(text)


@pytest.mark.parametrize(("text", "expected"), [("1e7", 10_000_000), ("10M", 10_000_000), ("100k", 100_000),
                                                ("5000000", 5_000_000), ("2.5M", 2_500_000)])
def test_parse_count(text, expected):
    assert common.parse_count(text) == expected


def test_uniform_ints_range_and_determinism():
    a = common.uniform_ints(common.rng(1, 2), 3, 9, 100_000)
    b = common.uniform_ints(common.rng(1, 2), 3, 9, 100_000)
    assert np.array_equal(a, b)
    assert a.min() == 3 and a.max() == 9
    assert np.abs(np.bincount(a - 3) / len(a) - 1 / 7).max() < 0.01


# ---------------------------------------------------------------------------------------------- zipf


def test_vocabulary_distinct_single_tokens_and_varied():
    words = zipf.build_vocabulary(20_000, seed=0).to_pylist()
    assert len(set(words)) == len(words)
    assert all(TOKEN.fullmatch(w) and w == w.lower() and w == unicodedata.normalize("NFC", w) for w in words)
    non_ascii = [w for w in words if not w.isascii()]
    assert 0.03 < len(non_ascii) / len(words) < 0.07
    scripts = {"greek": r"[\u0370-\u03ff]", "cyrillic": r"[\u0400-\u04ff]", "cjk": r"[\u4e00-\u9fff]",
               "accented latin": r"[\u00c0-\u024f]"}
    for name, pattern in scripts.items():
        assert any(re.search(pattern, w) for w in non_ascii), name
    assert any(w.isdigit() for w in words)
    # Frequent words are short, as in natural language.
    lengths = np.array([len(w) for w in words])
    assert lengths[:100].mean() < lengths[-1000:].mean()


@pytest.mark.parametrize(("vocabulary", "exponent"), [(1, 1.1), (2, 1.0), (1000, 1.1), (3000, 0.5), (4096, 2.0),
                                                     (5000, 1.0)])
def test_alias_table_represents_zipf_exactly(vocabulary, exponent):
    sampler = zipf._RankSampler(vocabulary, exponent)
    unit = sampler.UNIT
    threshold = (sampler.table >> np.uint64(32)).astype(np.int64)
    alias = (sampler.table & np.uint64(0xFFFFFFFF)).astype(np.int64)
    columns = len(sampler.table)
    assert columns == 1 << sampler.bits and columns >= vocabulary
    # A column keeps its draws below the threshold and hands the rest to its alias.
    implied = np.bincount(np.arange(columns), weights=threshold, minlength=columns)
    implied += np.bincount(alias, weights=unit - threshold, minlength=columns)
    assert implied.sum() == columns * unit
    assert np.all(implied[vocabulary:] == 0)
    p = zipf.zipf_probabilities(vocabulary, exponent)
    # Quantisation: each mass is floored to a unit, and rank 0 takes up the (at most `vocabulary`) lost units.
    assert np.abs(implied[:vocabulary] / (columns * unit) - p).max() <= (vocabulary + 1) / (columns * unit)


def test_rank_sampler_matches_zipf():
    sampler = zipf._RankSampler(1000, 1.1)
    ranks = sampler.ranks(common.raw_bits(common.rng(0, 1), 1 << 21))
    counts = np.bincount(ranks, minlength=1000)
    expected = zipf.zipf_probabilities(1000, 1.1) * len(ranks)
    z = (counts - expected) / np.sqrt(expected)
    assert np.abs(z).max() < 5.5
    assert abs((z**2).mean() - 1) < 0.15  # chi-square per degree of freedom


@pytest.mark.parametrize("exponent", [0.7, 1.0, 2.5])
def test_rank_sampler_other_exponents(exponent):
    sampler = zipf._RankSampler(3000, exponent)
    ranks = sampler.ranks(common.raw_bits(common.rng(0, 2), 1 << 20))
    assert ranks.min() >= 0 and ranks.max() < 3000
    p = zipf.zipf_probabilities(3000, exponent)
    top = np.bincount(ranks, minlength=3000)[:3] / len(ranks)
    assert np.allclose(top, p[:3], rtol=0.02, atol=1e-3)


def test_corpus_deterministic_and_seed_sensitive(tmp_path):
    a = zipf.generate_corpus(str(tmp_path / "a"), 300_000, vocabulary=SMALL_VOCABULARY, files=3, seed=7)
    b = zipf.generate_corpus(str(tmp_path / "b"), 300_000, vocabulary=SMALL_VOCABULARY, files=3, seed=7)
    c = zipf.generate_corpus(str(tmp_path / "c"), 300_000, vocabulary=SMALL_VOCABULARY, files=3, seed=8)
    assert [os.path.basename(p) for p in a] == ["part-000.txt", "part-001.txt", "part-002.txt"]
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)
    # Files of one corpus differ from each other (each has its own stream).
    assert len({_digest([p]) for p in a}) == 3


def test_corpus_size_lines_and_text(tmp_path):
    size = 1 << 20
    paths = zipf.generate_corpus(str(tmp_path), size, vocabulary=SMALL_VOCABULARY, files=4, seed=1, words_per_line=10)
    sizes = [os.path.getsize(p) for p in paths]
    assert sum(sizes) <= size
    assert all(size // 4 - 2000 < s <= size // 4 for s in sizes)
    text = "".join(_read(p) for p in paths)
    assert text.endswith("\n")
    lines = text.split("\n")[:-1]
    assert all(line and line[0] != " " and line[-1] != " " and "  " not in line for line in lines)
    words = [len(line.split(" ")) for line in lines]
    assert 9 < np.mean(words) < 11
    assert min(words) == 1 and max(words) > 25  # varied line lengths
    for mark in (",", ".", ";"):
        assert re.search(rf"[^\W_]{re.escape(mark)}[ \n]", text)
    assert re.search(r"(^|\n)[A-Z][a-z]", text)  # capitalised line starts
    assert re.search(r"\. [A-Z]", text)  # and sentence starts
    assert re.search(r"\b[A-Z]{4,}\b", text)  # occasional ALL CAPS
    assert re.search(r"[^\x00-\x7f]", text)


def test_corpus_tokens_are_vocabulary_words_with_zipf_frequencies(tmp_path):
    vocabulary, exponent = SMALL_VOCABULARY, 1.1
    paths = zipf.generate_corpus(str(tmp_path), 2 << 20, vocabulary=vocabulary, exponent=exponent, files=2, seed=3)
    counts = _count_tokens(paths)
    words = zipf.build_vocabulary(vocabulary, seed=3).to_pylist()
    assert set(counts) <= set(words)
    total = sum(counts.values())
    p = zipf.zipf_probabilities(vocabulary, exponent)
    for rank in (0, 1, 2, 9):
        expected = p[rank] * total
        assert abs(counts[words[rank]] - expected) < 4 * np.sqrt(expected), rank
    # Rank order by frequency follows the vocabulary order at the top.
    assert [w for w, _ in counts.most_common(3)] == words[:3]
    # The frequency-rank slope over ranks 1-100 is close to -exponent.
    ranks = np.arange(1, 101)
    freq = np.array([counts[words[r - 1]] for r in ranks], dtype=float)
    slope = np.polyfit(np.log(ranks), np.log(freq), 1)[0]
    assert slope == pytest.approx(-exponent, abs=0.08)


def test_corpus_exponent_below_one(tmp_path):
    paths = zipf.generate_corpus(str(tmp_path), 200_000, vocabulary=2_000, exponent=0.8, files=1, seed=0)
    counts = _count_tokens(paths)
    words = zipf.build_vocabulary(2_000, seed=0).to_pylist()
    total = sum(counts.values())
    assert counts[words[0]] / total == pytest.approx(zipf.zipf_probabilities(2_000, 0.8)[0], rel=0.1)


def test_corpus_tiny_target_still_writes_a_line(tmp_path):
    paths = zipf.generate_corpus(str(tmp_path), 4, vocabulary=100, files=2, seed=0)
    for p in paths:
        with open(p, "rb") as f:
            data = f.read()
        assert data.endswith(b"\n") and data.count(b"\n") == 1


def test_corpus_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        zipf.generate_corpus(str(tmp_path), 1000, files=0)
    with pytest.raises(ValueError):
        zipf.generate_corpus(str(tmp_path), 1000, exponent=0)
    with pytest.raises(ValueError):
        zipf.generate_corpus(str(tmp_path), 1000, vocabulary=0)


def test_sample_corpus_cached(tmp_path, monkeypatch):
    calls = []
    real = zipf.generate_corpus

    def counting(out_dir, size_bytes, **kwargs):
        calls.append(size_bytes)
        return real(out_dir, 1 << 16, vocabulary=1000, **kwargs)  # small and quick; the real size is a constant

    monkeypatch.setattr(zipf, "generate_corpus", counting)
    first = zipf.sample_corpus(str(tmp_path))
    assert calls == [zipf.SAMPLE_CORPUS_SIZE] and zipf.SAMPLE_CORPUS_SIZE == 64 << 20
    assert first == os.path.join(str(tmp_path), zipf.SAMPLE_CORPUS_DIRNAME)
    assert sorted(os.listdir(first)) == [f"part-{i:03d}.txt" for i in range(4)]
    assert os.listdir(tmp_path) == [zipf.SAMPLE_CORPUS_DIRNAME]  # no temporary folder left behind
    digest = _digest(sorted(os.path.join(first, n) for n in os.listdir(first)))

    second = zipf.sample_corpus(str(tmp_path))
    assert second == first and len(calls) == 1
    assert _digest(sorted(os.path.join(first, n) for n in os.listdir(first))) == digest


def test_sample_corpus_default_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("PAXFLOW_CACHE", str(tmp_path / "cache"))
    assert common.default_cache_dir() == str(tmp_path / "cache")
    os.makedirs(tmp_path / "cache" / zipf.SAMPLE_CORPUS_DIRNAME)
    monkeypatch.setattr(zipf, "generate_corpus", lambda *a, **k: pytest.fail("regenerated an existing corpus"))
    assert zipf.sample_corpus() == str(tmp_path / "cache" / zipf.SAMPLE_CORPUS_DIRNAME)


def test_sample_corpus_losing_a_race_keeps_the_winner(tmp_path, monkeypatch):
    final = tmp_path / zipf.SAMPLE_CORPUS_DIRNAME

    def racing(out_dir, size_bytes, **kwargs):
        # Another process finishes first while we are still generating.
        os.makedirs(final)
        (final / "part-000.txt").write_text("winner\n")
        with open(os.path.join(out_dir, "part-000.txt"), "w") as f:
            f.write("loser\n")
        return [os.path.join(out_dir, "part-000.txt")]

    monkeypatch.setattr(zipf, "generate_corpus", racing)
    assert zipf.sample_corpus(str(tmp_path)) == str(final)
    assert (final / "part-000.txt").read_text() == "winner\n"
    assert os.listdir(tmp_path) == [zipf.SAMPLE_CORPUS_DIRNAME]


# ---------------------------------------------------------------------------------------------- tpch


@pytest.fixture(scope="module")
def tpch_small(tmp_path_factory):
    out = tmp_path_factory.mktemp("tpch")
    paths = tpch.generate_tpch(str(out), scale=0.01, seed=0, row_group_rows=20_000)
    return paths, pq.read_table(paths["orders"]), pq.read_table(paths["lineitem"])


def test_tpch_schema_and_sizes(tpch_small):
    paths, orders, lineitem = tpch_small
    assert set(paths) == {"orders", "lineitem"}
    assert all(p.endswith(".parquet") and os.path.basename(os.path.dirname(p)) == t
               for t, ps in paths.items() for p in ps)
    assert orders.schema.equals(tpch.ORDERS_SCHEMA)
    assert lineitem.schema.equals(tpch.LINEITEM_SCHEMA)
    assert orders.num_rows == 15_000
    assert 3.8 * 15_000 < lineitem.num_rows < 4.2 * 15_000
    meta = pq.ParquetFile(paths["lineitem"][0]).metadata
    assert meta.num_row_groups == -(-lineitem.num_rows // 20_000)


def test_tpch_keys(tpch_small):
    _, orders, lineitem = tpch_small
    okey = orders["o_orderkey"].to_numpy()
    assert len(np.unique(okey)) == len(okey)
    assert okey.min() == 1 and okey[7] == 8 and okey[8] == 33  # 8 of every 32 keys, as TPC-H
    assert np.all((okey - 1) % 32 < 8)
    lkey = lineitem["l_orderkey"].to_numpy()
    assert np.isin(lkey, okey).all()
    lines = lineitem.group_by("l_orderkey").aggregate(
        [("l_linenumber", "count"), ("l_linenumber", "min"), ("l_linenumber", "max"), ("l_linenumber", "sum")])
    count = lines["l_linenumber_count"].to_numpy()
    assert len(lines) == orders.num_rows  # every order has items
    assert count.min() == 1 and count.max() == 7
    assert np.abs(np.bincount(count, minlength=8)[1:] / len(count) - 1 / 7).max() < 0.02
    # Line numbers are exactly 1..n for every order.
    assert np.array_equal(lines["l_linenumber_min"].to_numpy(), np.ones(len(lines)))
    assert np.array_equal(lines["l_linenumber_max"].to_numpy(), count)
    assert np.array_equal(lines["l_linenumber_sum"].to_numpy(), count * (count + 1) // 2)
    cust = orders["o_custkey"].to_numpy()
    assert cust.min() >= 1 and cust.max() <= 1_500 and not np.any(cust % 3 == 0)
    part = lineitem["l_partkey"].to_numpy()
    supp = lineitem["l_suppkey"].to_numpy()
    assert part.min() >= 1 and part.max() <= 2_000 and supp.min() >= 1 and supp.max() <= 100


def test_tpch_values(tpch_small):
    _, orders, lineitem = tpch_small
    assert set(orders["o_orderpriority"].unique().to_pylist()) == set(tpch.ORDER_PRIORITIES)
    assert set(lineitem["l_shipmode"].unique().to_pylist()) == set(tpch.SHIP_MODES)
    assert set(lineitem["l_shipinstruct"].unique().to_pylist()) == set(tpch.SHIP_INSTRUCTIONS)
    assert set(lineitem["l_returnflag"].unique().to_pylist()) == {"A", "N", "R"}
    assert set(lineitem["l_linestatus"].unique().to_pylist()) == {"F", "O"}
    assert set(orders["o_orderstatus"].unique().to_pylist()) == {"F", "O", "P"}
    assert pc.all(pc.match_substring_regex(orders["o_clerk"], r"^Clerk#\d{9}$")).as_py()
    quantity = lineitem["l_quantity"].to_numpy()
    discount = np.round(lineitem["l_discount"].to_numpy() * 100).astype(np.int64)
    tax = np.round(lineitem["l_tax"].to_numpy() * 100).astype(np.int64)
    assert quantity.min() == 1 and quantity.max() == 50 and np.all(quantity == np.round(quantity))
    assert discount.min() == 0 and discount.max() == 10 and tax.min() == 0 and tax.max() == 8
    # Extended price = quantity * the part's TPC-H retail price.
    part = lineitem["l_partkey"].to_numpy()
    retail = 90000 + (part // 10) % 20001 + 100 * (part % 1000)
    price = np.round(lineitem["l_extendedprice"].to_numpy() * 100).astype(np.int64)
    assert np.array_equal(price, quantity.astype(np.int64) * retail)
    # Dates: ship 1-121 days after the order, commit 30-90, receipt 1-30 after shipping.
    day = lambda table, col: table[col].cast(pa.int32()).to_numpy()
    okey = orders["o_orderkey"].to_numpy()
    lkey = lineitem["l_orderkey"].to_numpy()
    order_of_item = np.searchsorted(okey, lkey)
    order_date = day(orders, "o_orderdate")[order_of_item]
    ship, commit, receipt = day(lineitem, "l_shipdate"), day(lineitem, "l_commitdate"), day(lineitem, "l_receiptdate")
    assert (ship - order_date).min() == 1 and (ship - order_date).max() == 121
    assert (commit - order_date).min() == 30 and (commit - order_date).max() == 90
    assert (receipt - ship).min() == 1 and (receipt - ship).max() == 30
    assert day(orders, "o_orderdate").min() >= tpch.START_DATE and day(orders, "o_orderdate").max() <= tpch.END_DATE - 151
    # Flags follow the 1995-06-17 current date; the order status summarises its items' line statuses.
    flag = np.array(lineitem["l_returnflag"].to_pylist())
    status = np.array(lineitem["l_linestatus"].to_pylist())
    assert np.all((flag == "N") == (receipt > tpch.CURRENT_DATE))
    assert np.all((status == "O") == (ship > tpch.CURRENT_DATE))
    open_items = np.bincount(order_of_item, weights=status == "O", minlength=len(okey))
    items = np.bincount(order_of_item, minlength=len(okey))
    expected_status = np.where(open_items == 0, "F", np.where(open_items == items, "O", "P"))
    assert np.array_equal(np.array(orders["o_orderstatus"].to_pylist()), expected_status)
    # Total price: dbgen's per-item integer-cent arithmetic, summed per order.
    item_cents = (price * (100 - discount) // 100) * (100 + tax) // 100
    totals = np.bincount(order_of_item, weights=item_cents, minlength=len(okey))
    assert np.array_equal(np.round(orders["o_totalprice"].to_numpy() * 100), totals)
    comments = lineitem["l_comment"].to_pylist()
    lengths = np.array([len(c) for c in comments])
    assert lengths.min() >= 10 and lengths.max() <= 43
    assert len(set(comments)) > 0.5 * len(comments)


def test_tpch_deterministic_and_independent_of_files(tmp_path, tpch_small):
    _, orders, lineitem = tpch_small
    again = tpch.generate_tpch(str(tmp_path / "a"), scale=0.01, seed=0)
    assert pq.read_table(again["orders"]).equals(orders)
    assert pq.read_table(again["lineitem"]).equals(lineitem)
    other = tpch.generate_tpch(str(tmp_path / "b"), scale=0.01, seed=1)
    assert not pq.read_table(other["lineitem"]).equals(lineitem)


def test_tpch_multiple_files_cover_order_ranges(tmp_path, monkeypatch):
    monkeypatch.setattr(tpch, "BLOCK_ORDERS", 2048)  # several blocks at a small scale
    paths = tpch.generate_tpch(str(tmp_path / "split"), scale=0.01, seed=0, files=3)
    single = tpch.generate_tpch(str(tmp_path / "one"), scale=0.01, seed=0, files=1)
    assert len(paths["orders"]) == len(paths["lineitem"]) == 3
    for table in ("orders", "lineitem"):
        assert pq.read_table(paths[table]).equals(pq.read_table(single[table]))
    # File i of both tables holds the same order keys.
    for o, li in zip(paths["orders"], paths["lineitem"]):
        okeys = pq.read_table(o, columns=["o_orderkey"])["o_orderkey"].to_numpy()
        lkeys = pq.read_table(li, columns=["l_orderkey"])["l_orderkey"].to_numpy()
        assert set(np.unique(lkeys)) == set(okeys)


def test_tpch_with_tpchgen_cli(tmp_path, monkeypatch):
    # A stand-in for tpchgen-cli 3+, which takes the format as a subcommand and rejects --format.
    fake = tmp_path / "bin" / "tpchgen-cli"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" --format "*) echo "unexpected argument --format" >&2; exit 2;; esac\n'
        'while [ $# -gt 0 ]; do case "$1" in --output-dir) dir=$2; shift;; --tables) table=$2; shift;; esac; shift; done\n'
        'echo fake > "$dir/$table.parquet"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    paths = tpch.generate_with_tpchgen(str(tmp_path / "out"), scale=0.01)
    assert paths == {t: [str(tmp_path / "out" / t / f"{t}.parquet")] for t in ("orders", "lineitem")}
    assert sorted(os.listdir(tmp_path / "out")) == ["lineitem", "orders"]  # the temporary folder is gone


def test_tpch_default_files_and_bad_arguments(tmp_path):
    assert tpch.default_files(0.01) == 1
    assert tpch.default_files(1) >= 2
    assert tpch.default_files(10) > tpch.default_files(1)
    with pytest.raises(ValueError):
        tpch.generate_tpch(str(tmp_path), scale=0)
    with pytest.raises(ValueError):
        tpch.generate_tpch(str(tmp_path), scale=0.01, files=5)


# ---------------------------------------------------------------------------------------------- db-benchmark


@pytest.fixture(scope="module")
def join_small(tmp_path_factory):
    out = tmp_path_factory.mktemp("join")
    paths = dbbench.generate_join_tables(str(out), n=100_000, seed=0)
    return paths, {name: pq.read_table(p) for name, p in paths.items()}


def _match(left: pa.Table, right: pa.Table, key: str) -> tuple[float, float]:
    lk, rk = left[key].to_numpy(), right[key].to_numpy()
    return float(np.isin(lk, rk).mean()), float(np.isin(rk, lk).mean())


def test_join_tables_shape(join_small):
    paths, t = join_small
    assert set(paths) == {"x", "small", "medium", "big"}
    assert {n: t[n].num_rows for n in t} == {"x": 100_000, "small": 1, "medium": 100, "big": 100_000}
    assert t["x"].column_names == ["id1", "id2", "id3", "id4", "id5", "id6", "v1"]
    assert t["small"].column_names == ["id1", "id4", "v2"]
    assert t["medium"].column_names == ["id1", "id2", "id4", "id5", "v2"]
    assert t["big"].column_names == ["id1", "id2", "id3", "id4", "id5", "id6", "v2"]
    x = t["x"]
    assert x.schema.field("id1").type == pa.int64() and x.schema.field("id4").type == pa.string()
    assert x.schema.field("v1").type == pa.float64()
    for i in (1, 2, 3):
        expected = pc.binary_join_element_wise("id", x[f"id{i}"].cast(pa.string()), "")
        assert x[f"id{i + 3}"].equals(expected)
    v1 = x["v1"].to_numpy()
    assert v1.min() >= 0 and v1.max() < 100 and np.allclose(v1, np.round(v1, 6))


def test_join_match_ratios(join_small):
    _, t = join_small
    x, medium, big = t["x"], t["medium"], t["big"]
    # big: every key once on each side, so exactly 90% of the rows match either way.
    assert _match(x, big, "id3") == (0.9, 0.9)
    assert len(np.unique(big["id3"].to_numpy())) == big.num_rows
    x_share, right_share = _match(x, medium, "id2")
    assert x_share == pytest.approx(0.9, abs=0.01) and right_share == pytest.approx(0.9, abs=0.01)
    # medium's id2 keys: 90 shared with x, 10 of its own.
    assert len(np.unique(medium["id2"].to_numpy())) == 100


def test_join_deterministic_and_seed_sensitive(tmp_path, join_small):
    _, t = join_small
    again = dbbench.join_tables(n=100_000, seed=0)
    assert all(again[name].equals(t[name]) for name in t)
    other = dbbench.join_tables(n=100_000, seed=1)
    assert not other["x"].equals(t["x"])


def test_join_nas_and_k():
    tables = dbbench.join_tables(n=20_000, nas=10, seed=0)
    x = tables["x"]
    assert x["v1"].null_count / x.num_rows == pytest.approx(0.1, abs=0.02)
    for i in (1, 2, 3):
        assert x[f"id{i}"].null_count / x.num_rows == pytest.approx(0.1, abs=0.02)
        assert x[f"id{i}"].is_null().equals(x[f"id{i + 3}"].is_null())
    tables = dbbench.join_tables(n=20_000, k=500, seed=0)
    assert len(np.unique(tables["x"]["id3"].to_numpy())) == 500
    with pytest.raises(ValueError):
        dbbench.join_tables(n=0)
    with pytest.raises(ValueError):
        dbbench.join_tables(n=10, nas=101)


# ---------------------------------------------------------------------------------------------- CLI


def test_script_runs_standalone(tmp_path):
    # Run as a script (not a module), as the README shows: its imports must resolve through the package.
    done = subprocess.run(
        [sys.executable, os.path.join(REPO, "datasets", "zipf.py"), "--size", "64K", "--vocabulary", "1000",
         "-o", str(tmp_path / "z")],
        capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=""), cwd=str(tmp_path), timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(os.listdir(tmp_path / "z")) == 4
    assert sum(os.path.getsize(tmp_path / "z" / n) for n in os.listdir(tmp_path / "z")) <= 64 << 10


def test_generate_rejects_bad_size(tmp_path, capsys):
    from framework.datagen import generate

    with pytest.raises(SystemExit) as exit_info:
        generate.main(["zipf", "--size", "12X", "-o", str(tmp_path / "bad")])
    assert exit_info.value.code == 2 and "not a size" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "bad")


def test_generate_subcommands(tmp_path, capsys):
    from framework.datagen import generate

    assert generate.main(["tpch", "--scale", "0.01", "--row-group-rows", "10k", "-o", str(tmp_path / "t")]) == 0
    assert generate.main(["join", "-n", "1e4", "--seed", "3", "-o", str(tmp_path / "j")]) == 0
    assert generate.main(["zipf", "--size", "32KiB", "--vocabulary", "1k", "--files", "2", "-o", str(tmp_path / "z")]) == 0
    out = capsys.readouterr().out
    assert "tpch: SF 0.01" in out and "join: x 10,000" in out and "zipf: wrote 2 files" in out
    assert sorted(os.listdir(tmp_path / "t")) == ["lineitem", "orders"]
    assert pq.ParquetFile(str(tmp_path / "t" / "lineitem" / "part-000.parquet")).metadata.num_row_groups > 1
    assert sorted(os.listdir(tmp_path / "j")) == ["big.parquet", "medium.parquet", "small.parquet", "x.parquet"]
    assert dbbench.join_tables(n=10_000, seed=3)["x"].equals(pq.read_table(str(tmp_path / "j" / "x.parquet")))
