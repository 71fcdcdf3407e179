r"""Word count: how often each word occurs in a text corpus.

Words are maximal runs of Unicode letters and digits (RE2 `[\p{L}\p{N}]+`), lowercased with Unicode rules
(pyarrow's utf8_lower). Output columns: word (string), count (int64).

    paxflow run jobs/wordcount.py                          # a generated 64 MiB sample corpus
    paxflow run jobs/wordcount.py data/*.txt -o out/wc     # your files
    python jobs/wordcount.py data/ -o out/wc               # the same, without the paxflow command
"""

import pyarrow as pa

from framework import Count, Job, Text
from framework.text import words


class WordCount(Job):
    """Count how often each word occurs."""

    input = Text()
    key = "word"
    aggregate = {"count": Count()}  # rows per word: runs map-side as the combiner, and again in reduce
    preview_order = [("count", "descending"), ("word", "ascending")]  # what `paxflow run` shows without -o

    def map(self, batch: pa.RecordBatch) -> pa.Table:
        return pa.table({"word": words(batch.column("line"))})

    @classmethod
    def sample_input(cls):
        from framework.datagen.zipf import sample_corpus

        return {"input": sample_corpus()}


if __name__ == "__main__":
    WordCount.main()
