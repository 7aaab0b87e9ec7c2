"""CSV in and out of the layer directories: strict reading in bounded batches, quoting-minimal writing, and an
atomic replace, so no reader ever sees a partial file (docs/data-contract.md#reading-and-writing-csv)."""

from __future__ import annotations

import codecs
import csv
import os
import socket
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from dagster_project.contract.names import LayerFileError

SCAN_CHUNK_BYTES = 16 * 1024 * 1024
WRITE_CHUNK_ROWS = 1_000_000
NEEDS_QUOTES = r'[",\r\n]'


# Bytes of CSV text per parsed batch: about half a million bronze rows, so a step's memory is bounded by the
# batch, not by the file, while each batch is large enough for pyarrow's vectorized kernels to run at full speed.
# Measured at 10M rows: 64 MiB peaks at 1.9 GiB, 32 MiB at 1.5 GiB in the same time, 16 MiB is 5% slower.
BATCH_BYTES = 32 * 1024 * 1024
# Enough CSV text for the first rows of a preview.
HEAD_BLOCK_BYTES = 256 * 1024


@dataclass(frozen=True)
class CsvBatches:
    """A validated CSV header and its rows as a stream of Arrow tables (the `wanted` columns, strings)."""

    path: Path
    size_bytes: int
    header: tuple[str, ...]
    ignored_columns: tuple[str, ...]
    wanted: tuple[str, ...]
    quotes_are_unbalanced: bool
    block_size: int = BATCH_BYTES

    def __iter__(self) -> Iterator[pa.Table]:
        column_names = [f"column_{index}" for index in range(len(self.header))]
        positions = [self.header_index(name) for name in self.wanted]
        try:
            reader = pa_csv.open_csv(
                self.path,
                # Parsing runs on pyarrow's threads, ahead of the batch being processed.
                read_options=pa_csv.ReadOptions(
                    column_names=column_names, skip_rows=1, block_size=self.block_size, use_threads=True
                ),
                parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                convert_options=pa_csv.ConvertOptions(
                    include_columns=[column_names[position] for position in positions],
                    column_types=dict.fromkeys(column_names, pa.string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            for batch in reader:
                yield pa.Table.from_batches([batch]).rename_columns(list(self.wanted))
        except pa.ArrowInvalid as error:
            _diagnose_structure(self.path, len(self.header))
            raise LayerFileError(self.path, f"could not be parsed as CSV: {error}") from error
        if self.quotes_are_unbalanced:
            # The fast parser silently closes a quote left open at end of file; the strict reader does not.
            _diagnose_structure(self.path, len(self.header))

    def header_index(self, name: str) -> int:
        return [raw.strip().lower() for raw in self.header].index(name)

    def only(self, columns: Sequence[str]) -> CsvBatches:
        """The same rows with fewer columns converted: every row is still parsed, so every structural check
        still runs, but converting a column costs as much as parsing the file."""
        return replace(self, wanted=tuple(columns))

    def head(self) -> pa.Table | None:
        """The first rows (a small first block), without parsing the rest of the file; None if it has none."""
        return next(iter(replace(self, block_size=HEAD_BLOCK_BYTES)), None)


def open_csv_batches(
    path: Path,
    wanted: Sequence[str],
    *,
    expected_header: Sequence[str] | None = None,
    block_size: int | None = None,
) -> CsvBatches:
    """Check a headed CSV (a regular file, UTF-8 without NUL bytes, the `wanted` columns in its header) and return
    its rows as batches. Header names match after trimming and lower-casing; with `expected_header` the header
    must be exactly that (the layer files this pipeline wrote itself). Iterating raises LayerFileError for the
    first structural problem, before any batch after it is produced."""
    size = _require_regular_file(path)
    quotes_are_unbalanced = _scan_text(path)
    header = _read_header(path)
    normalized = [name.strip().lower() for name in header]
    _locate_columns(path, normalized, wanted, expected_header=expected_header)
    ignored = tuple(raw for raw, name in zip(header, normalized, strict=True) if name not in wanted)
    block_size = BATCH_BYTES if block_size is None else block_size
    return CsvBatches(path, size, tuple(header), ignored, tuple(wanted), quotes_are_unbalanced, block_size)


class AtomicCsvWriter:
    """Writes a CSV file batch by batch without ever exposing a partial file: rows go to a temporary file in the
    same directory, which is fsynced and renamed over `path` only when the writer closes without an error.

    Encoding and writing run on a background thread (pyarrow's kernels and file writes release the GIL), so the
    next batch is computed while the previous one is written; at most one batch waits."""

    def __init__(self, path: Path, columns: Sequence[str]):
        self.path, self.columns = path, [str(name) for name in columns]
        self.rows = self.bytes = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_abandoned_temp_files(path)
        descriptor, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{writer_id()}.", suffix=".tmp")
        self._temp = Path(temp_name)
        self._handle = os.fdopen(descriptor, "wb")
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"write-{path.name}")
        self._pending: Future | None = None
        self.bytes += self._handle.write(encode_header(self.columns))

    def write(self, table: pa.Table) -> None:
        if table.column_names != self.columns:
            raise ValueError(f"{self.path}: batch columns {table.column_names} differ from {self.columns}")
        self._wait_for_pending()
        self.rows += table.num_rows
        self._pending = self._pool.submit(encode_rows, table, self._handle)

    def __enter__(self) -> AtomicCsvWriter:
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        try:
            try:
                if error_type is None:
                    self._wait_for_pending()
                    self._handle.flush()
                    os.fsync(self._handle.fileno())
            finally:
                self._pool.shutdown(wait=True)
                self._handle.close()
            if error_type is None:
                # mkstemp creates 0600; the layer files are meant to be read by people and other pods.
                os.chmod(self._temp, 0o664)
                os.replace(self._temp, self.path)
        finally:
            self._temp.unlink(missing_ok=True)  # only still there when the file was not completed
        if error_type is None:
            _fsync_directory(self.path.parent)

    def _wait_for_pending(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.bytes += pending.result()


def write_csv_atomic(frame: pd.DataFrame, path: Path) -> int:
    """Replace `path` with `frame` as CSV in one rename; returns the bytes written."""
    with AtomicCsvWriter(path, frame.columns) as writer:
        writer.write(pa.Table.from_pandas(frame, preserve_index=False))  # no copy for Arrow-backed frames
    return writer.bytes


def writer_id(pid: int | None = None) -> str:
    """Who writes a temporary file: host, pid and the process's start time. A pid alone is not enough on a
    PVC: each pod (and each restart of a container) numbers its processes from 1, so a dead run pod's
    writer and a live process of the next pod can share a pid."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname().replace('.', '-')}_{pid}_{_start_ticks(pid)}"


def remove_abandoned_temp_files(path: Path) -> list[Path]:
    """Delete temporary files a killed writer of `path` left behind: its process no longer exists, or it ran in
    another pod or container. Only one writer of a layer runs at a time (the layer's pool), so a writer
    elsewhere is one whose run ended without cleaning up."""
    removed = []
    for candidate in path.parent.glob(f".{path.name}.*.tmp"):
        owner = candidate.name[len(path.name) + 2 :].split(".", 1)[0]
        if not _writer_alive(owner):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def _writer_alive(owner: str) -> bool:
    if owner.isdigit():  # a pid alone: files written before writer_id existed
        return _process_alive(int(owner))
    host, pid, started = owner.rsplit("_", 2) if owner.count("_") >= 2 else ("", "", "")
    if not pid.isdigit() or host != socket.gethostname().replace(".", "-"):
        return False
    return _process_alive(int(pid)) and _start_ticks(int(pid)) == started


def _start_ticks(pid: int) -> str:
    """The process's start time in clock ticks since boot (/proc/PID/stat, field 22); "0" where there is no
    /proc (macOS), where the pid and host alone decide."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "0" if not Path("/proc/self/stat").exists() else "gone"
    return stat.rsplit(")", 1)[1].split()[19]


def encode_header(columns: Sequence[str]) -> bytes:
    return (",".join(_quote_where_needed(pa.array(list(columns), pa.string())).to_pylist()) + "\n").encode("utf-8")


def encode_rows(table: pa.Table, handle: BinaryIO) -> int:
    """RFC 4180 with quotes only where a value needs them, "\\n" line ends, UTF-8; returns bytes written."""
    written = 0
    for start in range(0, table.num_rows, WRITE_CHUNK_ROWS):
        chunk = table.slice(start, WRITE_CHUNK_ROWS)
        fields = [_quote_where_needed(column.combine_chunks()) for column in chunk.columns]
        written += handle.write(_encode_lines(fields))
    return written


def _encode_lines(fields: list[pa.Array]) -> memoryview:
    lines = pc.binary_join_element_wise(*fields, ",") if len(fields) > 1 else fields[0]
    terminated = pc.binary_join_element_wise(lines, "", "\n")
    offsets = np.frombuffer(terminated.buffers()[1], dtype=np.int32)
    first, last = offsets[terminated.offset], offsets[terminated.offset + len(terminated)]
    return memoryview(terminated.buffers()[2])[first:last]


def _quote_where_needed(values: pa.Array) -> pa.Array:
    values = values.cast(pa.string())
    # A scan of the column's bytes settles the common case: nothing in it needs quotes.
    if not contains_any_byte(values, b',"\r\n'):
        return values
    needs = pc.match_substring_regex(values, NEEDS_QUOTES)
    if not pc.any(needs).as_py():
        return values
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(values, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, values)


def contains_any_byte(values: pa.Array | pa.ChunkedArray, candidates: bytes) -> bool:
    """Whether any of `candidates` occurs in the raw bytes of a string column, at memchr speed. The buffers
    may hold bytes outside a slice's range, so a hit can be a false alarm; callers then take the exact path."""
    for chunk in values.chunks if isinstance(values, pa.ChunkedArray) else [values]:
        data = chunk.buffers()[2]
        if data is not None:
            raw = data.to_pybytes()
            if any(bytes([byte]) in raw for byte in candidates):
                return True
    return False


def _require_regular_file(path: Path) -> int:
    if path.is_dir():
        raise LayerFileError(path, "is a directory, but a CSV file is expected here")
    if not path.exists():
        raise LayerFileError(path, "does not exist")
    size = path.stat().st_size
    if size == 0:
        raise LayerFileError(path, "is empty (0 bytes); expected a header row and data rows")
    return size


def _scan_text(path: Path) -> bool:
    """Reject NUL bytes and invalid UTF-8 with the line they are on; report whether quotes are unbalanced."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    quotes = lines_before = offset = 0
    with path.open("rb") as handle:
        while chunk := handle.read(SCAN_CHUNK_BYTES):
            nul = chunk.find(b"\0")
            if nul >= 0:
                line = lines_before + chunk.count(b"\n", 0, nul) + 1
                raise LayerFileError(path, f"contains a NUL byte on line {line} (byte {offset + nul}); not a text CSV")
            pending = len(decoder.getstate()[0])
            try:
                # ASCII (nearly every CSV) is valid UTF-8: the byte check is far cheaper than decoding.
                if pending or not chunk.isascii():
                    decoder.decode(chunk)
            except UnicodeDecodeError as error:
                bad = max(error.start - pending, 0)
                line = lines_before + chunk.count(b"\n", 0, bad) + 1
                raise LayerFileError(
                    path, f"is not valid UTF-8: byte {offset + bad} on line {line} cannot be decoded"
                ) from error
            quotes += chunk.count(b'"')
            lines_before += chunk.count(b"\n")
            offset += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        raise LayerFileError(path, "is not valid UTF-8: it ends in the middle of a character") from error
    return quotes % 2 == 1


def _read_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = next((row for row in reader if row), None)
        except csv.Error as error:
            raise LayerFileError(path, f"has a malformed header on line {reader.line_num}: {error}") from error
    if header is None:
        raise LayerFileError(path, "has no header row")
    return header


def _locate_columns(
    path: Path, normalized: list[str], wanted: Sequence[str], *, expected_header: Sequence[str] | None
) -> dict[str, int]:
    if expected_header is not None and normalized != list(expected_header):
        raise LayerFileError(path, f"has columns {normalized}, expected exactly {list(expected_header)}")
    missing = [name for name in wanted if name not in normalized]
    if missing:
        raise LayerFileError(
            path, f"is missing required column(s) {', '.join(missing)} (header has: {', '.join(normalized)})"
        )
    repeated = {name: normalized.count(name) for name in wanted if normalized.count(name) > 1}
    if repeated:
        detail = ", ".join(f"{name} ({count} times)" for name, count in repeated.items())
        raise LayerFileError(path, f"has required column(s) more than once in the header: {detail}")
    return {name: normalized.index(name) for name in wanted}


def _diagnose_structure(path: Path, field_count: int) -> None:
    """Walk the file with the strict csv reader and raise for the first structural problem found."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        record_start = 1
        header_seen = False
        try:
            for row in reader:
                if row and header_seen and len(row) != field_count:
                    raise LayerFileError(
                        path,
                        f"line {record_start} has {len(row)} fields but the header has {field_count}",
                    )
                header_seen = header_seen or bool(row)
                record_start = reader.line_num + 1
        except csv.Error as error:
            if "unexpected end of data" in str(error):
                raise LayerFileError(
                    path, f"has an unterminated quoted field starting on line {record_start}"
                ) from error
            raise LayerFileError(path, f"is malformed CSV on line {reader.line_num}: {error}") from error


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
