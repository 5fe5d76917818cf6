"""Full-text search that handles Chinese: overlapping character bigrams, as Lucene's CJK analyzer does.

Chinese has no spaces between words, and most search terms are two characters (漏油, 开裂, 态度).
A run of CJK characters is indexed as its overlapping bigrams (齿轮箱 -> 齿轮 轮箱) plus its last
character; any other run of letters or digits as one lower-case word. A query is tokenized the
same way: a CJK term matches as the phrase of its bigrams (adjacent positions), a single character
as a prefix of a bigram, a word as itself or a prefix (the last token of a term is a prefix, so
"GX-2" finds GX-200). Terms separated by spaces must all match.

The same tokens serve both databases: PostgreSQL keeps them in a `tsvector` ('simple'
configuration: no stemming, no stop words) with a GIN index; SQLite in an FTS5 table. Why not
pg_trgm: its index needs three characters to be used, so a two-character Chinese term scans every
row; and zhparser is not packaged where this runs. Bigrams use the index for every term of two
characters or more.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

#: Longest query accepted (characters).
MAX_QUERY = 200


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x2FA1F
            or 0x3040 <= o <= 0x30FF or 0xAC00 <= o <= 0xD7AF)


def _runs(text: str) -> list[tuple[bool, str]]:
    """(is CJK, run) for each run of CJK characters or of other letters and digits."""
    runs: list[tuple[bool, str]] = []
    current, cjk = [], False
    for ch in unicodedata.normalize("NFKC", text):
        is_cjk = _is_cjk(ch)
        word = not is_cjk and (ch.isalnum())
        if is_cjk or word:
            if current and cjk != is_cjk:
                runs.append((cjk, "".join(current)))
                current = []
            current.append(ch)
            cjk = is_cjk
        elif current:
            runs.append((cjk, "".join(current)))
            current = []
    if current:
        runs.append((cjk, "".join(current)))
    return runs


def tokens(text: str) -> list[str]:
    """The index tokens of a text, in order."""
    out: list[str] = []
    for cjk, run in _runs(text):
        if not cjk:
            out.append(run.lower())
        elif len(run) == 1:
            out.append(run)
        else:
            out.extend(run[i:i + 2] for i in range(len(run) - 1))
            out.append(run[-1])
    return out


def document(texts: Iterable[str | None]) -> str:
    """The search tokens of several fields, as one space-separated text (the indexed column)."""
    return " ".join(t for text in texts if text for t in tokens(text))


class BadQuery(ValueError):
    pass


def _terms(query: str) -> list[list[tuple[str, bool]]]:
    """Each term's tokens as (token, prefix), the last token of each term a prefix."""
    if len(query) > MAX_QUERY:
        raise BadQuery(f"at most {MAX_QUERY} characters")
    terms: list[list[tuple[str, bool]]] = []
    for raw in query.split():
        parts: list[tuple[str, bool]] = []
        for cjk, run in _runs(raw):
            if not cjk:
                parts.append((run.lower(), False))
            elif len(run) == 1:
                parts.append((run, True))
            else:
                parts.extend((run[i:i + 2], False) for i in range(len(run) - 1))
        if parts:
            last, _ = parts[-1]
            parts[-1] = (last, True)
            terms.append(parts)
    return terms


def searchable(query: str) -> bool:
    """Whether the query holds anything to search for (a letter, a digit or a CJK character)."""
    return bool(_terms(query))


def postgres_query(query: str) -> str:
    """A `to_tsquery('simple', ...)` text: terms ANDed, each a phrase of its tokens."""
    out = []
    for term in _terms(query):
        out.append("(" + " <-> ".join(f"'{tok}'" + (":*" if prefix else "") for tok, prefix in term) + ")")
    return " & ".join(out)


def sqlite_query(query: str) -> str:
    """An FTS5 MATCH expression: terms ANDed, each a phrase of its tokens, the last a prefix."""
    out = []
    for term in _terms(query):
        phrase = " ".join(tok for tok, _ in term)
        out.append(f'"{phrase}"' + ("*" if term[-1][1] else ""))
    return " AND ".join(out)
