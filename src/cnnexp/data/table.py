"""data=csv: a table of image files and their classes, the way Ludwig, Keras and timm users hand a labelled set over.

data.root is the table: a CSV file (UTF-8, a header row, then one row per image). Its image column
(data.image_column) holds a path, relative to the table's folder or absolute; its label column
(data.label_column) the class. An optional split column (data.split_column) says train, val or test per row
(also validation, and Ludwig's 0, 1, 2); without it, or without val or test rows, those images are held out of
train as for an image folder (data/split.py). Classes are the train rows' labels, sorted as image_folder sorts
its class folders; val and test rows may only use those. Rows are named by their line in the file.

Every row is checked before an image is opened: a missing file, a file that is no regular file, one file in two
classes or two splits. The images are then decoded, checked and streamed (or held in memory) exactly as an
image folder's are (data/folders.py): `prepare_table` decodes every image once, so a bad file stops the run
before training.
"""

from __future__ import annotations

import csv
import difflib
import logging
import os
import stat
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cnnexp.data.folders import (
    MODES,
    SHOWN,
    Decode,
    FileId,
    FolderImages,
    Indexed,
    file_id,
    file_kind,
    listed,
    named_some,
    unreadable,
)
from cnnexp.data.spec import DataSpec
from cnnexp.data.split import STAGES, Source
from cnnexp.errors import ConfigError, closest

log = logging.getLogger(__name__)
# What a split column may say, and the stage it means (HF's `validation`; Ludwig's 0, 1, 2).
SPLIT_VALUES = {
    "train": "train",
    "val": "val",
    "validation": "val",
    "test": "test",
    "0": "train",
    "1": "val",
    "2": "test",
}
WHAT = {"image_column": "image paths", "label_column": "classes"}  # what each column holds, for messages
EXAMPLE = {"image_column": "image", "label_column": "label"}


@dataclass(frozen=True)
class LabelRow:
    line: int  # the row's line in the file (the header is line 1), as messages name it
    image: Path  # absolute: relative paths are the table folder's
    label: str
    stage: str  # train, val or test


@dataclass(frozen=True)
class Table:
    path: Path
    rows: list[LabelRow]
    classes: list[str]  # the train rows' labels, sorted
    split_column: str | None  # the column the stages came from; None: every row is train


def read_table(spec: DataSpec) -> Table:
    """The rows of the table, every value checked; no image file is looked at yet."""
    path = _table_file(spec.folder)
    header, records = _records(path)
    image, label = (_column(spec, key, header, path) for key in ("image_column", "label_column"))
    split = spec.split_column if spec.split_column in header else None
    problems: list[str] = []
    rows = [row for line, record in records if (row := _row(line, record, image, label, split, path.parent, problems))]
    if problems:
        raise ConfigError(f"data=csv: {len(problems)} row(s) of {path} cannot be used: {listed(problems)}.")
    return Table(path, rows, _classes(rows, path, split), split)


def _table_file(path: Path) -> Path:
    if path.is_dir():
        tables = sorted(p.name for p in path.glob("*.csv"))
        held = f" (it holds {', '.join(tables[:SHOWN])})" if tables else ""
        raise ConfigError(
            f"data.root={path} is a folder{held}; data=csv reads one table: give the CSV file's path, e.g. "
            f"data.root={path / 'labels.csv'}."
        )
    if not path.is_file():
        raise ConfigError(
            f"data.root={path}: no such table. data=csv reads a CSV file with a header row and one row per image "
            f"(e.g. image,label,split), its image paths relative to the table's folder or absolute."
        )
    return path


def _records(path: Path) -> tuple[list[str], list[tuple[int, dict[str | None, Any]]]]:
    """The header and each row with its line; a file that is no UTF-8 CSV, or has no rows, is a ConfigError."""
    records = []
    try:
        # utf-8-sig: a spreadsheet's "CSV UTF-8" starts with a byte order mark; skipinitialspace: "a, b" is fine.
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.DictReader(file, skipinitialspace=True)
            header = list(reader.fieldnames or [])
            for record in reader:
                records.append((reader.line_num, record))
    except UnicodeDecodeError as err:
        raise ConfigError(f"data=csv: {path} is not UTF-8 text ({err.reason}); save it as UTF-8 CSV.") from None
    except csv.Error as err:
        raise ConfigError(f"data=csv: {path} line {reader.line_num} is not CSV ({err}); fix that line.") from None
    except OSError as err:
        raise ConfigError(f"data=csv: cannot read the table {path} ({err.strerror}).") from None
    if not header:
        raise ConfigError(
            f"data=csv: {path} is empty; a table starts with a header row naming its columns, e.g. image,label."
        )
    if not records:
        raise ConfigError(f"data=csv: {path} has a header ({', '.join(header)}) but no rows; add a row per image.")
    return header, records


def _column(spec: DataSpec, key: str, header: list[str], path: Path) -> str:
    name = getattr(spec, key)
    if name is None:
        raise ConfigError(
            f"data.{key} must name the table's column of {WHAT[key]} for data=csv, e.g. data.{key}={EXAMPLE[key]}."
        )
    if name not in header:
        raise ConfigError(
            f"data.{key}={name}: {path} has no column '{name}'.{closest(name, header)} Its columns: {', '.join(header)}; "
            f"set data.{key} to the one that holds the {WHAT[key]}."
        )
    return str(name)


def _row(
    line: int, record: dict[str | None, Any], image: str, label: str, split: str | None, folder: Path,
    problems: list[str],
) -> LabelRow | None:  # fmt: skip
    """The row read, or None with the reason added to `problems` (a short row leaves its last cells None)."""
    path, name = (record.get(image) or "").strip(), (record.get(label) or "").strip()
    given = (record.get(split) or "").strip() if split else "train"
    stage = SPLIT_VALUES.get(given.lower())
    if not path or not name:
        problems.append(
            f"line {line} has no {'image path' if not path else 'class'} (column '{image if not path else label}' is empty)"
        )
    elif stage is None:
        near = difflib.get_close_matches(given.lower(), SPLIT_VALUES, n=1)
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        problems.append(f"line {line}: split '{given}' in column '{split}' is not train, val or test{hint}")
    else:
        return LabelRow(line, folder / Path(path).expanduser(), name, stage)
    return None


def _classes(rows: list[LabelRow], path: Path, split: str | None) -> list[str]:
    """The train rows' labels, sorted; val or test rows of another class are refused (nothing learns it)."""
    classes = sorted({row.label for row in rows if row.stage == "train"})
    if not classes:
        raise ConfigError(
            f"data=csv: {path} has no train rows (column '{split}' says val or test on every row); mark some rows train."
        )
    known, unknown = set(classes), dict[str, int]()
    for row in rows:
        if row.label not in known:
            unknown.setdefault(row.label, row.line)
    if unknown:
        named = listed([f"'{label}' (line {line})" for label, line in unknown.items()])
        raise ConfigError(
            f"data=csv: {len(unknown)} class(es) of {path} appear in val or test rows only: {named}; the model learns the "
            f"classes of the train rows ({named_some(classes)}): add train rows of those classes, or remove their rows."
        )
    return classes


def index_table(spec: DataSpec) -> tuple[Table, dict[str, Indexed], int]:
    """The table, each of its files checked on disk and indexed once per stage that has rows, and the count of
    rows that repeat an earlier row (its file, class and split): read once."""
    table = read_table(spec)
    files = _Files()
    for row in table.rows:
        files.add(row)
    files.check(table)
    label = {name: index for index, name in enumerate(table.classes)}
    parts = {
        stage: Indexed(
            table.path.parent, table.classes, [(str(r.image), label[r.label]) for r in rows], files.ids[stage]
        )
        for stage, rows in files.kept.items()
        if rows
    }
    return table, parts, files.repeated


class _Files:
    """The rows' files: each once (by device and inode, however it is written), problems collected."""

    def __init__(self) -> None:
        self.first: dict[FileId, LabelRow] = {}  # each file -> the row that named it first
        self.kept: dict[str, list[LabelRow]] = {stage: [] for stage in STAGES}
        self.ids: dict[str, dict[FileId, str]] = defaultdict(dict)
        self.missing: list[str] = []
        self.unusable: list[str] = []
        self.repeated = 0  # rows that name an earlier row's file with the same class and split: read once

    def add(self, row: LabelRow) -> None:
        try:
            info = os.stat(row.image)
        except FileNotFoundError:
            self.missing.append(f"line {row.line}: {row.image}")
            return
        except OSError as err:
            self.unusable.append(f"line {row.line}: {row.image} ({err.strerror})")
            return
        if not stat.S_ISREG(info.st_mode):  # a FIFO named x.png would block the run forever
            self.unusable.append(f"line {row.line}: {row.image} (a {file_kind(info.st_mode)}, not a regular file)")
            return
        ident = file_id(info)
        first = self.first.setdefault(ident, row)
        if first is row:
            self.kept[row.stage].append(row)
            self.ids[row.stage][ident] = str(row.image)
        elif (first.label, first.stage) == (row.label, row.stage):
            self.repeated += 1
        else:
            self.unusable.append(
                f"line {row.line}: {row.image} ({row.label}, {row.stage}) is the file of line {first.line} "
                f"({first.label}, {first.stage})"
            )

    def check(self, table: Table) -> None:
        if self.missing:
            raise ConfigError(
                f"data=csv: {len(self.missing)} image file(s) named in {table.path} do not exist: {listed(self.missing)}. "
                f"Paths are relative to the table's folder {table.path.parent}, or absolute; fix them or remove those rows."
            )
        if self.unusable:
            raise ConfigError(
                f"data=csv: {len(self.unusable)} row(s) of {table.path} name a file that cannot be used: "
                f"{listed(self.unusable)}. A file is one image of one class in one split (a train image in val or "
                f"test would be scored on what the model learned); remove or fix those rows."
            )


def _datasets(spec: DataSpec) -> tuple[Table, dict[str, FolderImages], int]:
    table, parts, repeated = index_table(spec)
    decode = Decode(spec.channels, spec.height, spec.width, source="csv")
    return table, {stage: FolderImages(indexed, decode) for stage, indexed in parts.items()}, repeated


def load_table(spec: DataSpec) -> Source:
    table, parts, repeated = _datasets(spec)
    if repeated:
        log.info(
            f"data=csv: {repeated} row(s) of {table.path} repeat an earlier row (its file, class and split): read once"
        )
    if spec.split_column is not None and table.split_column is None:
        log.info(
            f"data=csv: {table.path} has no column '{spec.split_column}': every row is a train image, and the val and "
            f"test images are held out of them (data.split_column=null says so without this line)"
        )
    origin = (
        f"{table.path} has {len(table.classes)} classes in column '{spec.label_column}' ({named_some(table.classes)})"
    )
    return Source(
        train=parts["train"], test=parts.get("test"), classes=table.classes, val=parts.get("val"), origin=origin
    )


def prepare_table(spec: DataSpec) -> None:
    """Check the table and its files and decode every image once, as training will, before training starts."""
    table, parts, _ = _datasets(spec)
    lines = {str(row.image): row.line for row in reversed(table.rows)}  # the first row that names each file
    paths = [path for part in parts.values() for path, _ in part.samples]
    problems = unreadable(paths, Decode(spec.channels, spec.height, spec.width, source="csv"), spec.num_workers)
    if problems:
        named = [f"line {lines[path]}: {problem}" for path, problem in problems]
        raise ConfigError(
            f"data=csv: {len(problems)} image file(s) named in {table.path} cannot be read: {listed(named)}. "
            f"Remove or replace them (or their rows)."
        )


def complete_table(spec: DataSpec) -> DataSpec:
    """The spec checked, with num_classes counted from the table's train rows when it is null."""
    if spec.channels not in MODES:
        raise ConfigError(f"data.channels must be 1 (grey) or 3 (RGB) for data=csv, got {spec.channels}.")
    if spec.num_classes is not None:
        return spec
    return replace(spec, num_classes=len(read_table(spec).classes))
