"""The bundled UCR/UEA classification sets, loaded offline.

Four sets ship with lstmkit (``data/files/ucr/``, gzipped ``.ts`` files taken from the
sktime 1.2.0 wheel; provenance and licences in ``PROVENANCE.md`` there), each with the
archive's own train/test split:

============================  =========  ========  =========  ======================
name                          train/test  channels  length     task
============================  =========  ========  =========  ======================
``japanese_vowels``           270 / 370  12        7 to 29    which of 9 speakers
``basic_motions``             40 / 40    6         100        activity from a watch
``gunpoint``                  50 / 150   1         150        gun draw or point
``italy_power_demand``        67 / 1029  1         24         winter or summer day
============================  =========  ========  =========  ======================

>>> from lstmkit.sequences import load_ucr
>>> data = load_ucr("japanese_vowels")
>>> len(data.X_train), data.X_train[0].shape, data.classes
(270, (20, 12), ['1', '2', '3', '4', '5', '6', '7', '8', '9'])
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from importlib import resources

import numpy as np

from lstmkit.errors import InputError

_DIR = ("data", "files", "ucr")

# lstmkit name -> the archive's problem name (the file stem)
DATASETS = {
    "japanese_vowels": "JapaneseVowels",
    "basic_motions": "BasicMotions",
    "gunpoint": "GunPoint",
    "italy_power_demand": "ItalyPowerDemand",
}


@dataclass
class UCRDataset:
    """One classification set: lists of (T_i, C) float32 arrays and string labels.

    Attributes:
        name: the lstmkit name.
        X_train: the training series, (T_i, C) float32 each.
        y_train: their labels.
        X_test: the test series.
        y_test: their labels.
        classes: the labels in the order the file's header declares them.
        description: the file's own comment lines.
    """

    name: str
    X_train: list[np.ndarray]
    y_train: list[str]
    X_test: list[np.ndarray]
    y_test: list[str]
    classes: list[str]  # in the order the file's header declares them
    description: str  # the file's own comment lines

    @property
    def n_channels(self) -> int:
        """C, the channels per step."""
        return int(self.X_train[0].shape[1])


def _declared_length(header: dict, source: str) -> int | None:
    """The series length a header fixes (``@equalLength true`` with ``@seriesLength N``),
    or None where it fixes none."""
    if header.get("equallength", "").lower() != "true" or "serieslength" not in header:
        return None
    try:
        return int(header["serieslength"])
    except ValueError:
        raise InputError(f"{source}: expected @seriesLength as a whole number, "
                         f"found {header['serieslength']!r}") from None


def parse_ts(text: str, source: str = "<ts>") -> tuple[list[np.ndarray], list[str], dict]:
    """Parse sktime's ``.ts`` format: returns (series, labels, header).

    Each series is a (T, C) float32 array (channels are separated by ``:`` on a line,
    values by ``,``, the class label comes last); ``header`` maps each ``@key`` to its
    value string and ``"comments"`` to the joined ``#`` lines. A file whose header says
    ``@classLabel false`` has no labels: every field is a channel and ``labels`` is
    None. Missing values (``?``) and time stamps are not supported: none of the bundled
    sets has them.

    Args:
        text: the file's text.
        source: the name used in error messages.

    Returns:
        ``(series, labels, header)``.

    Raises:
        InputError: not in the format (no ``@data``, no series, fields that are not
            numbers, channels of different lengths, series of another length than the
            header's ``@seriesLength`` where it says ``@equalLength true``).

    Example:
        >>> X, y, header = parse_ts("@problemName demo\\n@classLabel true a b\\n@data\\n"
        ...                         "1,2,3:4,5,6:a\\n7,8:9,10:b\\n")
        >>> [x.shape for x in X], y
        ([(3, 2), (2, 2)], ['a', 'b'])
    """
    header: dict = {}
    comments: list[str] = []
    X: list[np.ndarray] = []
    y: list[str] = []
    in_data = False
    length = None  # the series length the header fixes, read once at @data
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            comments.append(line[1:].strip())
            continue
        if not in_data:
            if not line.startswith("@"):
                raise InputError(f"{source}:{lineno}: expected an @header line before @data, "
                                 f"found {line[:40]!r}")
            key, _, value = line[1:].partition(" ")
            if key.lower() == "data":
                in_data = True
                length = _declared_length(header, source)
            else:
                header[key.lower()] = value.strip()
            continue
        fields = line.split(":")
        labelled = header.get("classlabel", "true").split()[:1] != ["false"]
        channels, label = (fields[:-1], fields[-1]) if labelled else (fields, None)
        if not channels:
            raise InputError(f"{source}:{lineno}: expected channels then a label separated "
                             "by ':', found one field")
        try:
            cols = [np.array(c.split(","), dtype=np.float32) for c in channels]
        except ValueError as exc:
            raise InputError(f"{source}:{lineno}: expected comma-separated numbers ({exc})") from None
        if len({len(c) for c in cols}) != 1:
            raise InputError(f"{source}:{lineno}: channels have different lengths {[len(c) for c in cols]}")
        if length is not None and len(cols[0]) != length:
            raise InputError(f"{source}:{lineno}: expected {length} values per channel (the header's "
                             f"@equalLength true, @seriesLength {length}), found {len(cols[0])}")
        declared = header.get("classlabel", "").split()[1:]  # "true a b": the classes, where listed
        if label is not None and declared and label.strip() not in declared:
            raise InputError(f"{source}:{lineno}: expected a label among the classes the header declares "
                             f"{declared}, found {label.strip()!r}")
        X.append(np.stack(cols, axis=1))  # (T, C)
        y.append(None if label is None else label.strip())
    if not in_data:
        raise InputError(f"{source}: no @data line; not a .ts file")
    if not X:
        raise InputError(f"{source}: no series after @data")
    header["comments"] = "\n".join(comments).strip()
    return X, (None if y[0] is None else y), header


def read_ts(path) -> tuple[list[np.ndarray], list[str] | None]:
    """Read a ``.ts`` file (sktime's format), e.g. one of the UCR/UEA archive's
    ``*_TRAIN.ts`` files.

    Args:
        path: a ``.ts`` file, or a gzipped ``.ts.gz``.

    Returns:
        (series, labels): a list of (T_i, C) float32 arrays and their labels (strings),
        or None where the file has none (``@classLabel false``).

    Raises:
        InputError: an unreadable file or one not in the format.
    """
    from pathlib import Path

    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read it as a .ts file ({exc})") from None
    X, y, _ = parse_ts(text.removeprefix("\ufeff"), str(path))  # a byte-order mark is not data
    return X, y


def _read(file: str) -> str:
    path = resources.files("lstmkit").joinpath(*_DIR, file)
    with resources.as_file(path) as p, gzip.open(p, "rt", encoding="utf-8") as f:
        return f.read()


def load_ucr(name: str) -> UCRDataset:
    """One of the bundled UCR/UEA classification sets.

    Args:
        name: its lstmkit name, a key of :data:`DATASETS` (``"japanese_vowels"``,
            ``"basic_motions"``, ``"gunpoint"``, ``"italy_power_demand"``).

    Returns:
        A :class:`UCRDataset` with the archive's own train/test split.

    Raises:
        InputError: an unknown name.

    Example:
        >>> d = load_ucr("japanese_vowels")
        >>> len(d.X_train), d.X_train[0].shape, d.n_channels, len(d.X_test)
        (270, (20, 12), 12, 370)
    """
    if name not in DATASETS:
        raise InputError(f"unknown data set {name!r}; expected one of {', '.join(DATASETS)}")
    stem = DATASETS[name]
    X_tr, y_tr, head = parse_ts(_read(f"{stem}_TRAIN.ts.gz"), f"{stem}_TRAIN.ts")
    X_te, y_te, _ = parse_ts(_read(f"{stem}_TEST.ts.gz"), f"{stem}_TEST.ts")
    declared = head.get("classlabel", "").split()
    # "@classLabel true 1 2 3": the first word says labels are present, the rest list them
    classes = declared[1:] if declared[:1] == ["true"] else sorted(set(y_tr))
    return UCRDataset(name, X_tr, y_tr, X_te, y_te, classes, head["comments"])
