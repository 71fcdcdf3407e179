"""Top words: the K most frequent words of a corpus, in two steps (word count, then a global top K).

    paxflow run jobs/top_words.py data/*.txt --top 20

Step 1 counts words (as jobs/wordcount.py). Step 2 keeps each map task's local top K and merges them in a single
reduce. Ties are broken by the word, so the result is deterministic. Output: word, count, ordered by rank.
"""

import pyarrow as pa

from framework import Count, Job, Option, Step, Text
from framework.text import words


def top_k(table: pa.Table, k: int) -> pa.Table:
    """The k rows with the highest count (ties: the alphabetically first word)."""
    return table.sort_by([("count", "descending"), ("word", "ascending")]).slice(0, k)


class TopWords(Job):
    """The K most frequent words."""

    input = Text()
    options = [Option("--top", type=int, default=10, help="how many words (K)")]

    def validate(self) -> None:
        if self.args.top < 1:
            from framework.errors import UsageError

            raise UsageError(f"--top must be at least 1, got {self.args.top}")

    def steps(self) -> list[Step]:
        return [
            Step(map=self.tokens, key="word", aggregate={"count": Count()}, name="count words"),
            Step(map=self.local_top, key=None, reduce=self.global_top, name="top words"),
        ]

    def tokens(self, batch: pa.RecordBatch) -> pa.Table:
        return pa.table({"word": words(batch.column("line"))})

    def local_top(self, batch: pa.RecordBatch) -> pa.Table:
        return top_k(pa.Table.from_batches([batch]), self.args.top)

    def global_top(self, table: pa.Table) -> pa.Table:
        return top_k(table, self.args.top)

    @classmethod
    def sample_input(cls):
        from framework.datagen.zipf import sample_corpus

        return {"input": sample_corpus()}


if __name__ == "__main__":
    TopWords.main()
