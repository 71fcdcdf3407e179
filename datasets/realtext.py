"""A real-text corpus from the documentation installed on this machine: man pages (in every language installed),
/usr/share/doc (changelogs, copyright files, READMEs), vim's help, and the Python packages' text files.

Real text, unlike the Zipf corpus: natural word frequencies, long and short lines, markup (troff, reStructuredText,
Markdown), many languages and scripts. The sources are interleaved file by file, each in sorted path order
(gzip-compressed files decompressed); files that look binary (a NUL byte in their first 8 KiB) are left out;
text is decoded as UTF-8 with invalid bytes replaced by U+FFFD, and control characters other than tab and newline
are dropped, so every line is valid UTF-8 (a strict reader accepts it). When the machine's documents are smaller than `--size`, they are used again from the
start. The corpus depends on what this machine has installed: its summary line says how many files went in.

    python datasets/generate.py realtext --size 256MiB -o data/realtext
"""

from __future__ import annotations

import argparse
import glob
import gzip
import itertools
import os
import sys
import time
from typing import Iterator

from framework.datagen import common

#: where the documents come from, in this order
SOURCES = ("/usr/share/man", "/usr/share/doc", "/usr/share/vim", "/usr/share/common-licenses")
_TEXT_SUFFIXES = (".txt", ".rst", ".md")
_CONTROL = {c: None for c in range(32) if c not in (9, 10)} | {127: None}


def _files() -> list[str]:
    """Every document, the sources interleaved (one file of each in turn, each source in sorted order), so that a
    corpus smaller than all of them still mixes man pages, docs and package texts."""
    groups = []
    for root in SOURCES:
        found = [os.path.join(folder, n) for folder, _, names in os.walk(root) for n in names]
        groups.append(sorted(p for p in found if os.path.isfile(p) and not os.path.islink(p)))
    for root in glob.glob(os.path.join(sys.prefix, "lib", "python*", "site-packages")):
        found = [os.path.join(folder, n) for folder, _, names in os.walk(root) for n in names
                 if n.endswith(_TEXT_SUFFIXES)]
        groups.append(sorted(p for p in found if os.path.isfile(p) and not os.path.islink(p)))
    return [p for row in itertools.zip_longest(*groups) for p in row if p is not None]


def _texts(paths: list[str]) -> Iterator[str]:
    for path in paths:
        try:
            if path.endswith(".gz"):
                with gzip.open(path, "rb") as f:
                    data = f.read()
            else:
                with open(path, "rb") as f:
                    data = f.read()
        except (OSError, EOFError, gzip.BadGzipFile):
            continue
        if not data or b"\0" in data[:8192]:
            continue
        text = data.decode("utf-8", errors="replace").replace("\r\n", "\n").translate(_CONTROL)
        yield text if text.endswith("\n") else text + "\n"


def generate_real_text(out_dir: str, size: int, files: int = 4) -> tuple[list[str], int]:
    """Write about `size` bytes of the machine's documents into `files` part files; (paths, documents used)."""
    paths = _files()
    if not paths:
        raise RuntimeError(f"no documents found under {', '.join(SOURCES)}")
    os.makedirs(out_dir, exist_ok=True)
    outs = [open(os.path.join(out_dir, f"part-{i:03d}.txt"), "wb") for i in range(files)]
    written = [0] * files
    used = 0
    try:
        while sum(written) < size:
            before = sum(written)
            for text in _texts(paths):
                data = text.encode("utf-8")
                i = written.index(min(written))  # the emptiest part: parts end up the same size
                outs[i].write(data)
                written[i] += len(data)
                used += 1
                if sum(written) >= size:
                    break
            if sum(written) == before:
                raise RuntimeError("the documents found hold no text")
    finally:
        for f in outs:
            f.close()
    return [f.name for f in outs], used


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--size", type=common.size_arg, default="256MiB", help="total size (default 256MiB)")
    parser.add_argument("--files", type=int, default=4, help="number of part files (default 4)")


def run(args: argparse.Namespace) -> list[str]:
    start = time.perf_counter()
    paths, used = generate_real_text(args.out, args.size, args.files)
    total = sum(os.path.getsize(p) for p in paths)
    print(f"realtext: wrote {len(paths)} files, {common.format_size(total)} from {used:,} documents in "
          f"{time.perf_counter() - start:.1f} s to {args.out}")
    return paths


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="realtext.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    run(p.parse_args())
