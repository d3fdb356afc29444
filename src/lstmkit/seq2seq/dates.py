"""The date-normalisation task: human-written dates -> ISO 8601 ("3rd of March 2021" ->
"2021-03-03"), generated offline with Python's standard library.

Dates are drawn uniformly from 1969-01-01 to 2068-12-31, the century in which a two-digit
year is unambiguous under Python's own rule (``strptime('%y')``: 69-99 -> 19xx, 00-68 ->
20xx); ``datetime.date.isoformat()`` writes the targets. English month and weekday names
come from the :mod:`calendar` module (read under the "C" locale, so they are English on
every machine). Machines rarely have other locales installed (this one has only C/POSIX)
so the French, German, Spanish, Italian, Portuguese and Dutch names are small tables
written here by hand, not read from ``locale``.

Three kinds of data never overlap:

- training: :data:`TRAIN_FORMATS` rendering dates whose ordinal is not a multiple of 10;
- test ("seen formats"): the same formats on the other 10% of dates, never trained on;
- held-out formats: :data:`HELD_OUT_FORMATS`, formats never seen in training (new orders,
  separators and token combinations), also on the test dates only.

Numeric formats follow one convention each, so every string has exactly one reading:
slashes are month-first (US), dots day-first, and year-first formats are Y-M-D.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from lstmkit.errors import InputError

FIRST, LAST = date(1969, 1, 1), date(2068, 12, 31)
TARGET_CHARS = "0123456789-"


def _english() -> dict[str, list[str]]:
    with calendar.different_locale("C"):
        return {"B": list(calendar.month_name)[1:], "b": list(calendar.month_abbr)[1:],
                "A": list(calendar.day_name), "a": list(calendar.day_abbr)}


# month names, abbreviations, weekday names (Monday first), weekday abbreviations
_TABLES = {
    "fr": ("janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
           "janv. févr. mars avr. mai juin juil. août sept. oct. nov. déc.",
           "lundi mardi mercredi jeudi vendredi samedi dimanche",
           "lun. mar. mer. jeu. ven. sam. dim."),
    "de": ("Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
           "Jan. Feb. März Apr. Mai Juni Juli Aug. Sep. Okt. Nov. Dez.",
           "Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag",
           "Mo. Di. Mi. Do. Fr. Sa. So."),
    "es": ("enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
           "ene. feb. mar. abr. may. jun. jul. ago. sept. oct. nov. dic.",
           "lunes martes miércoles jueves viernes sábado domingo",
           "lun. mar. mié. jue. vie. sáb. dom."),
    "it": ("gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre",
           "gen feb mar apr mag giu lug ago set ott nov dic",
           "lunedì martedì mercoledì giovedì venerdì sabato domenica",
           "lun mar mer gio ven sab dom"),
    "pt": ("janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro",
           "jan. fev. mar. abr. mai. jun. jul. ago. set. out. nov. dez.",
           "segunda-feira terça-feira quarta-feira quinta-feira sexta-feira sábado domingo",
           "seg. ter. qua. qui. sex. sáb. dom."),
    "nl": ("januari februari maart april mei juni juli augustus september oktober november december",
           "jan. feb. mrt. apr. mei jun. jul. aug. sep. okt. nov. dec.",
           "maandag dinsdag woensdag donderdag vrijdag zaterdag zondag",
           "ma di wo do vr za zo"),
}
NAMES: dict[str, dict[str, list[str]]] = {"en": _english()}
NAMES.update({lang: dict(zip("BbAa", (s.split() for s in t))) for lang, t in _TABLES.items()})


def ordinal(n: int) -> str:
    """English ordinal of ``n``.

    Example:
        >>> [ordinal(n) for n in (1, 2, 3, 11, 22)]
        ['1st', '2nd', '3rd', '11th', '22nd']
    """
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


_TOKEN = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class DateFormat:
    """A way of writing a date: ``template`` with tokens {d} day, {dd} zero-padded day,
    {do} English ordinal day, {m}, {mm} month number, {B} month name, {b} abbreviated
    month, {Y} year, {y} two-digit year, {A} weekday, {a} abbreviated weekday; names in
    language ``lang``.

    Attributes:
        lang: the names' language, a key of ``NAMES`` (``"en"``...).
        template: the text with tokens.

    Raises:
        InputError: an unknown language or token.
    """

    lang: str
    template: str

    def __post_init__(self) -> None:
        if self.lang not in NAMES:
            raise InputError(f"unknown language {self.lang!r}; expected one of {', '.join(NAMES)}")
        for tok in _TOKEN.findall(self.template):
            if tok not in _FIELDS:
                raise InputError(f"unknown date token {{{tok}}} in {self.template!r}")

    def render(self, d: date) -> str:
        """The date ``d`` written in this format.

        Example:
            >>> from datetime import date
            >>> DateFormat("en", "{do} of {B} {Y}").render(date(2021, 3, 3))
            '3rd of March 2021'
        """
        names = NAMES[self.lang]
        return _TOKEN.sub(lambda m: _FIELDS[m.group(1)](d, names), self.template)

    def __str__(self) -> str:
        return f"{self.lang}: {self.template}"


_FIELDS = {
    "d": lambda d, n: str(d.day), "dd": lambda d, n: f"{d.day:02d}", "do": lambda d, n: ordinal(d.day),
    "m": lambda d, n: str(d.month), "mm": lambda d, n: f"{d.month:02d}",
    "B": lambda d, n: n["B"][d.month - 1], "b": lambda d, n: n["b"][d.month - 1],
    "Y": lambda d, n: str(d.year), "y": lambda d, n: f"{d.year % 100:02d}",
    "A": lambda d, n: n["A"][d.weekday()], "a": lambda d, n: n["a"][d.weekday()],
}

TRAIN_FORMATS = tuple(DateFormat(lang, t) for lang, t in (
    ("en", "{d} {B} {Y}"), ("en", "{dd} {B} {Y}"), ("en", "{B} {d}, {Y}"), ("en", "{B} {do}, {Y}"),
    ("en", "{do} of {B} {Y}"), ("en", "{do} of {B}, {Y}"), ("en", "the {do} of {B} {Y}"),
    ("en", "{B} the {do}, {Y}"), ("en", "{A}, {B} {d}, {Y}"), ("en", "{A} {d} {B} {Y}"),
    ("en", "{a} {d} {b} {Y}"), ("en", "{a}, {b} {d} {Y}"), ("en", "{b} {d} {Y}"),
    ("en", "{b}. {d}, {Y}"), ("en", "{d} {b} {Y}"), ("en", "{d}-{b}-{y}"), ("en", "{dd}-{b}-{Y}"),
    ("en", "{mm}/{dd}/{Y}"), ("en", "{m}/{d}/{Y}"), ("en", "{m}/{d}/{y}"), ("en", "{dd}.{mm}.{Y}"),
    ("en", "{d}.{m}.{Y}"), ("en", "{Y}-{mm}-{dd}"), ("en", "{Y}/{mm}/{dd}"), ("en", "{Y}.{mm}.{dd}"),
    ("en", "{Y}{mm}{dd}"),
    ("fr", "{d} {B} {Y}"), ("fr", "le {d} {B} {Y}"), ("fr", "{A} {d} {B} {Y}"), ("fr", "{d} {b} {Y}"),
    ("de", "{d}. {B} {Y}"), ("de", "{A}, {d}. {B} {Y}"), ("de", "{d}. {b} {Y}"),
    ("de", "{a}, {d}. {b} {Y}"),
    ("es", "{d} de {B} de {Y}"), ("es", "{A}, {d} de {B} de {Y}"), ("es", "{d} {b} {Y}"),
    ("it", "{d} {B} {Y}"), ("it", "{A} {d} {B} {Y}"), ("it", "{d} {b} {Y}"),
    ("pt", "{d} de {B} de {Y}"), ("pt", "{A}, {d} de {B} de {Y}"),
    ("nl", "{d} {B} {Y}"), ("nl", "{A} {d} {B} {Y}"), ("nl", "{d} {b} {Y}"),
    # Without these four, no training format put the year before a month name or a
    # two-digit year after day-first numbers, and a model trained for 4000 steps read
    # "{Y} {B} {d}" right 44% of the time and "{d}.{m}.{y}" 77% (docs/seq2seq.md).
    ("en", "{Y}-{b}-{dd}"), ("en", "{Y} {b} {dd}"), ("de", "{dd}.{mm}.{y}"), ("nl", "{d}-{m}-{Y}"),
))

# never seen in training; each recombines pieces the training formats do show
HELD_OUT_FORMATS = tuple(DateFormat(lang, t) for lang, t in (
    ("en", "{Y} {B} {d}"),  # a month name with the year first
    ("en", "{do} {b} {Y}"),  # an ordinal day before an abbreviated month
    ("en", "{B} {d} {Y}"),  # a full month name with no comma
    ("en", "{dd}-{B}-{Y}"),  # a full month name between dashes
    ("fr", "{A} {d} {b} {Y}"),  # a French weekday with an abbreviated month
    ("es", "{d} {B} {Y}"),  # a Spanish month name without "de"
    ("de", "{d}. {B} {y}"),  # a two-digit year after a month name
    ("en", "{d}.{m}.{y}"),  # dots with a two-digit year
))


def is_test_date(d: date) -> bool:
    """The 10% of dates kept out of training (every tenth day)."""
    return d.toordinal() % 10 == 0


def sample_dates(n: int, split: str, rng: np.random.Generator) -> list[date]:
    """Dates drawn uniformly over the range.

    Args:
        n: dates.
        split: ``"train"`` (training days) or ``"test"`` (every tenth day).
        rng: the generator.

    Returns:
        n dates.
    """
    if split not in ("train", "test"):
        raise InputError(f"split must be 'train' or 'test', got {split!r}")
    span = (LAST - FIRST).days + 1
    out: list[date] = []
    while len(out) < n:
        for k in rng.integers(0, span, size=2 * (n - len(out)) + 16):
            d = FIRST + timedelta(days=int(k))
            if is_test_date(d) == (split == "test"):
                out.append(d)
                if len(out) == n:
                    break
    return out


def _case(text: str, u: float) -> str:
    # people write in every case: 80% as the format has it, 10% lower, 10% upper
    return text.lower() if u < 0.1 else text.upper() if u < 0.2 else text


def date_pairs(n: int, formats=TRAIN_FORMATS, split: str = "train",
               rng: np.random.Generator | None = None) -> list[tuple[str, str]]:
    """Pairs of a date written by hand and in ISO 8601.

    Args:
        n: pairs.
        formats: the :class:`DateFormat` choices, one drawn per date (default the
            training formats).
        split: ``"train"`` or ``"test"`` days (every tenth day is a test day).
        rng: the generator (None: a fresh, unseeded one).

    Returns:
        n (written, ISO) pairs.

    Example:
        >>> import numpy as np
        >>> date_pairs(2, rng=np.random.default_rng(0))
        [('jan. 24, 2054', '2054-01-24'), ('12 set 2032', '2032-09-12')]
    """
    rng = rng or np.random.default_rng()
    dates = sample_dates(n, split, rng)
    which = rng.integers(0, len(formats), size=n)
    cases = rng.random(n)
    return [(_case(formats[k].render(d), u), d.isoformat()) for d, k, u in zip(dates, which, cases)]


def source_chars() -> str:
    """Every character a format of this module can produce, in any case."""
    text = "0123456789 ,.-/" + "".join(f.template for f in TRAIN_FORMATS + HELD_OUT_FORMATS)
    text = _TOKEN.sub("", text) + "stndrh"  # ordinal suffixes
    text += "".join(w for names in NAMES.values() for words in names.values() for w in words)
    return "".join(sorted(set(text + text.lower() + text.upper())))
