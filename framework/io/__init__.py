"""Paxflow's input and output: path expansion, splits, input formats and the atomic output commit.

Modules: `paths` (local paths and pyarrow.fs URIs, globs, directories), `splits` (`Split`), `lines` (byte-range line
reading shared by Text and JsonLines), `formats` (the `InputFormat` base and registry), `badrecords` (`BadRecords`,
the opt-in skipping of malformed records), `text`, `delimited` (Csv),
`jsonl`, `parquet`, `auto` (per-file choice by extension), `normalize` (view types -> plain types) and `output`
(write parts, commit, abort, read back). Everything here is pure Python + Arrow: no Ray.
"""

from framework.io.auto import Auto, format_for_path
from framework.io.badrecords import BadRecords
from framework.io.delimited import Csv
from framework.io.formats import InputFormat, by_name, format_from_dict
from framework.io.jsonl import JsonLines
from framework.io.normalize import normalize_schema, normalize_type, normalize_types
from framework.io.output import abort_output, check_output_dir, commit_output, read_output, write_part
from framework.io.parquet import Parquet
from framework.io.paths import FileEntry, compression_of, expand_paths, resolve
from framework.io.splits import Split
from framework.io.text import Text

__all__ = [
    "Auto",
    "BadRecords",
    "Csv",
    "FileEntry",
    "InputFormat",
    "JsonLines",
    "Parquet",
    "Split",
    "Text",
    "abort_output",
    "by_name",
    "check_output_dir",
    "commit_output",
    "compression_of",
    "expand_paths",
    "format_for_path",
    "format_from_dict",
    "normalize_schema",
    "normalize_type",
    "normalize_types",
    "read_output",
    "resolve",
    "write_part",
]
