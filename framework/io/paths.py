"""Locations: resolving a local path or URI to a pyarrow filesystem, and expanding user path specs.

A spec is a file, a directory (read recursively, skipping names that start with `_` or `.`, such as `_SUCCESS`
and `_temporary`) or a glob (`*`, `?`, `[...]`, `**`). Local paths are made absolute so that workers with another
working directory read the same files; URIs keep their scheme, host and query (`s3://b/k?endpoint_override=...`),
so a path this module returns can be resolved again anywhere.
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pyarrow.fs as pafs

from framework.errors import InputError, UsageError

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_GLOB_CHARS = frozenset("*?[")
_COMPRESSION = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bz2", ".zst": "zstd", ".zstd": "zstd"}
_LOCAL = pafs.LocalFileSystem()


@dataclass(frozen=True)
class FileEntry:
    """One input file: its path as the rest of Paxflow uses it (absolute local path or URI), its size and its
    modification time (nanoseconds; None where the filesystem gives none)."""

    path: str
    size: int
    mtime_ns: int | None = None


@dataclass(frozen=True)
class _Root:
    """How paths of one filesystem map between pyarrow's form and the user-facing form."""

    fs: pafs.FileSystem
    uri_prefix: str = ""  # "" for local paths; else "scheme://netloc"
    fs_base: str = ""  # the part of pyarrow's path that the URI's netloc stands for (the bucket on S3)
    query: str = ""

    def display(self, fs_path: str) -> str:
        if not self.uri_prefix:
            return fs_path
        rest = fs_path[len(self.fs_base) :] if self.fs_base and fs_path.startswith(self.fs_base) else fs_path
        if rest and not rest.startswith("/"):
            rest = "/" + rest
        return self.uri_prefix + rest + (f"?{self.query}" if self.query else "")


def is_uri(path: str) -> bool:
    return bool(_URI.match(path))


@functools.lru_cache(maxsize=64)
def _remote_root(scheme: str, netloc: str, query: str) -> _Root:
    # Cached: building an S3 filesystem may look up the bucket's region over the network.
    key = f"{scheme}://{netloc}" + (f"?{query}" if query else "")
    fs, base = pafs.FileSystem.from_uri(key)
    return _Root(fs, f"{scheme}://{netloc}", base.rstrip("/"), query)


def _locate(path: str) -> tuple[_Root, str]:
    if not is_uri(path):
        return _Root(_LOCAL), os.path.abspath(os.path.expanduser(path))
    parts = urllib.parse.urlsplit(path)
    if parts.scheme.lower() == "file":
        return _Root(_LOCAL), urllib.parse.unquote(parts.path) or "/"
    try:
        root = _remote_root(parts.scheme, parts.netloc, parts.query)
    except (OSError, ValueError) as e:
        raise InputError(path, f"cannot open the filesystem: {e}") from None
    inner = root.fs_base + urllib.parse.unquote(parts.path)
    return root, inner.rstrip("/") or "/"


def resolve(path: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and the filesystem's own path for a local path or URI."""
    root, inner = _locate(path)
    return root.fs, inner


def display_path(path: str) -> str:
    """The canonical form of `path` that `expand_paths` would return (absolute if local)."""
    root, inner = _locate(path)
    return root.display(inner)


def join(path: str, *names: str) -> str:
    """Append names to a local path or URI (keeping a URI's query at the end)."""
    if is_uri(path):
        parts = urllib.parse.urlsplit(path)
        new_path = posixpath.join(parts.path or "/", *names)
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, new_path, parts.query, ""))
    return os.path.join(path, *names)


def strip_query(path: str) -> str:
    return path.split("?", 1)[0] if is_uri(path) else path


def compression_of(path: str) -> str | None:
    """The stream compression implied by the file name's extension (gzip, bz2, zstd), or None."""
    return _COMPRESSION.get(posixpath.splitext(strip_query(path).lower())[1])


def expand_paths(spec: str | Sequence[str]) -> list[FileEntry]:
    """All files named by one spec or several, sorted by path and without duplicates.

    Raises InputError for a missing path, a glob that matches nothing, a directory without files and (on local
    disks) a file that cannot be opened.
    """
    specs = [spec] if isinstance(spec, str) else list(spec)
    if not specs:
        raise UsageError("no input paths given")
    found: dict[str, FileEntry] = {}
    for one in specs:
        if not isinstance(one, str) or not one:
            raise UsageError(f"an input path must be a non-empty string, not {one!r}")
        for entry in _expand_one(one):
            found[entry.path] = entry
    return [found[p] for p in sorted(found)]


def _expand_one(spec: str) -> list[FileEntry]:
    root, inner = _locate(spec)
    info = None
    if _GLOB_CHARS & set(inner):
        try:
            return _expand_glob(spec, root, inner)
        except InputError:
            info = _file_info(spec, root.fs, inner)  # a name that merely contains "[" or "?" still counts
            if info.type == pafs.FileType.NotFound:
                raise
    info = info or _file_info(spec, root.fs, inner)
    if info.type == pafs.FileType.NotFound:
        raise InputError(spec, "no such file or directory")
    if info.type == pafs.FileType.Directory:
        listing = _list(spec, root.fs, inner, recursive=True)
        files = [f for f in _files(listing) if not _hidden(_relative(inner, f.path))]
        if not files:
            raise InputError(spec, "the directory contains no files")
        return [_entry(root, f) for f in files]
    return [_entry(root, info)]


def _expand_glob(spec: str, root: _Root, inner: str) -> list[FileEntry]:
    parts = inner.split("/")
    first = next(i for i, p in enumerate(parts) if _GLOB_CHARS & set(p))
    base = "/".join(parts[:first]) or "/"
    pattern = parts[first:]
    regex = _glob_regex(pattern)
    recursive = len(pattern) > 1 or "**" in pattern
    if _file_info(spec, root.fs, base).type != pafs.FileType.Directory:
        raise InputError(spec, "the pattern matched no files")
    matched = []
    for info in _list(spec, root.fs, base, recursive=recursive):
        comps = _relative(base, info.path).split("/")
        # A file matches if its own path or one of its directories matches; inside a matched directory the
        # usual directory rule applies (hidden names skipped).
        for k in range(1, len(comps) + 1):
            if regex.fullmatch("/".join(comps[:k])):
                if not _hidden_in_match(comps[:k], pattern) and not _hidden("/".join(comps[k:])):
                    if info.type == pafs.FileType.File:
                        matched.append(info)
                    elif not recursive:  # a recursive listing holds the directory's files already
                        inside = _list(spec, root.fs, info.path, recursive=True)
                        matched.extend(f for f in _files(inside) if not _hidden(_relative(info.path, f.path)))
                break
    if not matched:
        raise InputError(spec, "the pattern matched no files")
    return [_entry(root, f) for f in matched]


def _entry(root: _Root, info: pafs.FileInfo) -> FileEntry:
    path = root.display(info.path)
    if isinstance(root.fs, pafs.LocalFileSystem):
        # Cheap on a local disk, and it turns "permission denied" into an up-front usage error.
        try:
            with open(info.path, "rb"):
                pass
        except PermissionError:
            raise InputError(path, "permission denied") from None
        except OSError as e:
            raise InputError(path, f"cannot open: {e.strerror or e}") from None
    return FileEntry(path, int(info.size or 0), info.mtime_ns)


def file_version(path: str) -> tuple[int, int | None]:
    """(size, mtime in ns) of the file at `path` now: what a task compares with what the job was planned on."""
    fs, inner = resolve(path)
    try:
        info = fs.get_file_info(inner)
    except OSError as e:
        raise read_error(path, e) from None
    if info.type != pafs.FileType.File:
        raise InputError(path, "no such file any more (it was there when the job was planned)")
    return int(info.size or 0), info.mtime_ns


def _file_info(spec: str, fs: pafs.FileSystem, path: str) -> pafs.FileInfo:
    try:
        return fs.get_file_info(path)
    except PermissionError:
        raise InputError(spec, "permission denied") from None
    except OSError as e:
        raise InputError(spec, f"cannot access: {e}") from None


def _list(spec: str, fs: pafs.FileSystem, base: str, *, recursive: bool) -> list[pafs.FileInfo]:
    try:
        infos = fs.get_file_info(pafs.FileSelector(base, recursive=recursive, allow_not_found=True))
    except PermissionError:
        raise InputError(spec, "permission denied") from None
    except OSError as e:
        raise InputError(spec, f"cannot list: {e}") from None
    return infos


def _files(infos: list[pafs.FileInfo]) -> list[pafs.FileInfo]:
    return [i for i in infos if i.type == pafs.FileType.File]


def _relative(base: str, path: str) -> str:
    prefix = base.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else path


def _hidden(relative: str) -> bool:
    return any(c[:1] in ("_", ".") for c in relative.split("/") if c)


def _hidden_in_match(comps: Iterable[str], pattern: list[str]) -> bool:
    """A hidden name matched by a glob counts only if some pattern component spells out its first character."""
    for c in comps:
        if c[:1] in ("_", ".") and not any(p != "**" and p.startswith(c[0]) for p in pattern):
            return True
    return False


def _glob_regex(pattern: list[str]) -> re.Pattern[str]:
    out = []
    for i, comp in enumerate(pattern):
        last = i == len(pattern) - 1
        if comp == "**":
            out.append(".*" if last else "(?:[^/]+/)*")
        else:
            out.append(_translate(comp) + ("" if last else "/"))
    return re.compile("".join(out))


def _translate(comp: str) -> str:
    out, i, n = [], 0, len(comp)
    while i < n:
        c = comp[i]
        i += 1
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i
            if j < n and comp[j] in "!^":
                j += 1
            if j < n and comp[j] == "]":
                j += 1
            while j < n and comp[j] != "]":
                j += 1
            if j >= n:
                out.append(re.escape(c))
                continue
            body = comp[i:j]
            i = j + 1
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            body = body.replace("\\", "\\\\")
            out.append(f"[{'^/' if negate else ''}{body}]")
        else:
            out.append(re.escape(c))
    return "".join(out)


def read_error(path: str, e: OSError) -> InputError:
    """The one-line InputError for a file that could not be read."""
    if isinstance(e, FileNotFoundError):
        return InputError(path, "no such file or directory")
    if isinstance(e, PermissionError):
        return InputError(path, "permission denied")
    return InputError(path, f"cannot read: {' '.join(str(e).split())}")
