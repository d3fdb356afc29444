"""Reading text: UTF-8 text files and the folder of the bundled corpora, for the text
tasks (:mod:`lstmkit.textgen`, :mod:`lstmkit.classify`).

Every user error (a missing or empty file, bytes that are not UTF-8) raises
:class:`~lstmkit.errors.InputError` naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

from lstmkit.errors import InputError

TEXT_DIR = Path(__file__).resolve().parent.parent / "data" / "files" / "text"


def decode_utf8(data: bytes, where: str) -> str:
    """``data`` decoded as UTF-8, strictly, without a leading byte-order mark.

    Args:
        data: the bytes.
        where: what they are, for the error (a file's path, "standard input").

    Returns:
        The text.

    Raises:
        InputError: bytes that are not UTF-8, naming the first bad byte and its offset.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{where} is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start} cannot be decoded (convert it to UTF-8)") from None
    return text.removeprefix("\ufeff")  # a byte-order mark is not part of the text


def read_text(path: str | os.PathLike) -> str:
    """The whole of a UTF-8 text file.

    Args:
        path: the file.

    Returns:
        Its text.

    Raises:
        InputError: an empty file, or one that is not UTF-8 (naming the first bad byte).
        FileNotFoundError: a missing file.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"expected a text file, found a directory at {path}")
    data = path.read_bytes()
    text = decode_utf8(data, str(path))
    if not text.strip():
        raise InputError(
            f"{path} is empty: expected some text, found {len(data)} bytes of whitespace"
        )
    return text
