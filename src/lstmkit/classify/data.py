"""The classifier's data: labelled sentence files (``text<TAB>label``), the bundled
sentiment sentences, and the seeded stratified split.

Every user error (a row without a label, an empty sentence, a single class) raises
:class:`~lstmkit.errors.InputError` naming the file and the line.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Sequence

from lstmkit.errors import InputError
from lstmkit.spine.text import TEXT_DIR, read_text

SENTIMENT_SOURCES = {"amazon": "amazon_cells_labelled.txt", "imdb": "imdb_labelled.txt",
                     "yelp": "yelp_labelled.txt"}  # 1,000 sentences each, 500 per label
SENTIMENT_LABELS = {"0": "negative", "1": "positive"}


def parse_labelled(text: str, source: str = "<text>") -> tuple[list[str], list[str]]:
    """Parse ``sentence<TAB>label`` rows (blank lines skipped).

    Args:
        text: the rows, separated by ``\\n``; the label is what follows the last tab.
        source: the name used in error messages (a file name).

    Returns:
        (sentences, labels), stripped strings.

    Raises:
        InputError: a row without a label or sentence, or no row at all.

    Example:
        >>> parse_labelled("good film\\tpos\\n\\nbad plot\\tneg\\n")
        (['good film', 'bad plot'], ['pos', 'neg'])
    """
    texts, labels = [], []
    # split on "\n" only: str.splitlines() would also break at U+0085 or U+2028 inside a sentence
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        sentence, tab, label = line.rpartition("\t")
        if not tab or not label.strip() or not sentence.strip():
            what = "no label" if not tab or not label.strip() else "an empty sentence"
            raise InputError(
                f"{source}, line {number}: expected 'sentence<TAB>label', found {what} in "
                f"{line[:60]!r}"
            )
        texts.append(sentence.strip())
        labels.append(label.strip())
    if not texts:
        raise InputError(f"{source} holds no labelled rows: expected lines 'sentence<TAB>label'")
    return texts, labels


def read_labelled(path: str | os.PathLike) -> tuple[list[str], list[str]]:
    """Read a labelled file.

    Args:
        path: a UTF-8 file of ``sentence<TAB>label`` lines (blank lines skipped; the
            label is what follows the last tab).

    Returns:
        (sentences, labels), two lists of strings.

    Raises:
        InputError: a line without a label or sentence, or no labelled line at all.
    """
    return parse_labelled(read_text(path), str(path))


def check_labels(labels: list[str], source: str = "the data") -> None:
    """Refuse labels of fewer than two classes (a classifier needs two).

    Args:
        labels: the labels, as strings.
        source: the name used in the error message.

    Raises:
        InputError: fewer than two classes.
    """
    classes = Counter(labels)
    if len(classes) < 2:
        only = next(iter(classes), None)
        raise InputError(
            f"{source} has {len(classes)} class ({only!r}): a classifier needs at least 2 classes"
        )


def sentiment_sentences(sources: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """The 3,000 bundled review sentences (Kotzias et al. 2015, CC BY 4.0) with labels
    ``"negative"``/``"positive"``, in file order (amazon, imdb, yelp).

    Args:
        sources: only those of some of the three sites (names from
            ``SENTIMENT_SOURCES``), in the order given; None: all three.

    Returns:
        (sentences, labels), two lists of strings.

    Raises:
        InputError: an unknown or empty ``sources`` (or one name as a bare string).

    Example:
        >>> texts, labels = sentiment_sentences()
        >>> len(texts), sorted(set(labels))
        (3000, ['negative', 'positive'])
    """
    names = list(SENTIMENT_SOURCES) if sources is None else list(sources)
    unknown = [s for s in names if s not in SENTIMENT_SOURCES]
    if isinstance(sources, str) or unknown or not names:
        raise InputError(f"expected sources among {list(SENTIMENT_SOURCES)}, got {sources!r}")
    texts, labels = [], []
    for name in names:
        t, y = read_labelled(TEXT_DIR / "sentiment" / SENTIMENT_SOURCES[name])
        texts += t
        labels += [SENTIMENT_LABELS[v] for v in y]
    return texts, labels


def stratified_split(
    texts: list[str], labels: list[str], test_fraction: float = 0.2, seed: int = 0
) -> tuple[list[str], list[str], list[str], list[str]]:
    """A seeded split keeping each class's share.

    Args:
        texts: N texts.
        labels: their N labels.
        test_fraction: the share held out per class, in (0, 1) (default 0.2).
        seed: seeds the split and the order (default 0).

    Returns:
        ``(train_x, train_y, test_x, test_y)``, both parts shuffled.

    Raises:
        InputError: ``test_fraction`` outside (0, 1), counts that differ, or too few
            rows for both parts.

    Example:
        >>> train_x, train_y, test_x, test_y = stratified_split(*sentiment_sentences())
        >>> len(train_x), len(test_x)
        (2400, 600)
    """
    if not 0 < test_fraction < 1:
        raise InputError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    if len(texts) != len(labels):
        raise InputError(
            f"expected one label per text, got {len(texts)} texts and {len(labels)} labels"
        )
    rng = random.Random(seed)
    train, test = [], []
    for cls in sorted(set(labels)):
        idx = [i for i, y in enumerate(labels) if y == cls]
        rng.shuffle(idx)
        n_test = round(len(idx) * test_fraction)
        test += idx[:n_test]
        train += idx[n_test:]
    rng.shuffle(train)
    rng.shuffle(test)
    if not train or not test:
        raise InputError(
            f"too few rows ({len(texts)}) to hold out a {test_fraction:.0%} test split"
        )
    pick = lambda ids, xs: [xs[i] for i in ids]
    return pick(train, texts), pick(train, labels), pick(test, texts), pick(test, labels)
