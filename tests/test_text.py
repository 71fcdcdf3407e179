"""framework.text.words (numpy over UTF-8 bytes) agrees with the RE2 reference and with Python's own rules."""

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.text import words, words_regex
from tests.oracles import WORD, simple_lower

SAMPLES = [
    "", "   ", "Hello, World", "don't stop-believing... e-mail: a@b.c 3.14 _x_",
    "Ça va? ÇA VA! naïve café — Ελληνικά; Москва 東京 ٣٤ x² ½ Ⅻ", "emoji 👍🏽ok🙂 done", "tab\there\x00nul",
    "ǅungla ǲ ß ẞ", "देवनागरी हिन्दी", "a\u0301b combining", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛",
]


def test_samples_match_reference_and_python():
    arr = pa.array(SAMPLES + [None])
    assert words(arr).to_pylist() == words_regex(arr).to_pylist()
    assert words(arr).to_pylist() == [w for s in SAMPLES for w in WORD.findall(simple_lower(s))]


def test_words_never_span_lines_and_slices_work():
    arr = pa.array(["end", "start", "", "mid dle"])
    assert words(arr).to_pylist() == ["end", "start", "mid", "dle"]
    assert words(arr.slice(1, 2)).to_pylist() == ["start"]
    assert words(pa.chunked_array([arr, arr.slice(3)])).to_pylist() == ["end", "start", "mid", "dle", "mid", "dle"]
    assert words(pa.array(["x y"], pa.large_string())).type == pa.string()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40), max_size=12))
def test_random_unicode_agrees_with_re2(lines):
    arr = pa.array(lines, pa.string())
    assert words(arr).to_pylist() == words_regex(arr).to_pylist()


def test_word_table_cache_matches_re2_and_survives_a_bad_file(tmp_path, monkeypatch):
    """The tokenizer's Unicode table is computed from RE2 once per machine and read back by later processes; a
    damaged cache file is recomputed, never trusted."""
    import numpy as np

    from framework import text

    monkeypatch.setenv("PAXFLOW_CACHE", str(tmp_path))
    fresh = text._cached_word_codepoints()  # computed, and written to the cache
    (cached,) = list((tmp_path / "tables").iterdir())
    assert np.array_equal(np.load(cached), text._ask_re2_word_codepoints())
    assert np.array_equal(text._cached_word_codepoints(), fresh)  # read back
    cached.write_bytes(b"not a table")
    assert np.array_equal(text._cached_word_codepoints(), fresh)
