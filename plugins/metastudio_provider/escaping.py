"""Untrusted text made safe for where it is shown: a log line, a Slack message, a Markdown table cell.

Text from MetaStudio (``error_msg``, ``error_code``, job ids and names in answers) and from a
manifest (notes, file names) is chosen by someone else. Shown as it is, it can ping a whole
channel (``<!channel>``), disguise a link (``<https://evil|click here>``), forge rows of a
Markdown table (a ``|`` and a newline), inject HTML, or rewrite a terminal with ANSI escapes.
Each destination has one function here, applied where the text is rendered (the data itself,
in XCom and reports, stays as it was received):

* :func:`log_line` — one line of plain text: ANSI escape sequences, control characters and
  bidirectional overrides removed, whitespace runs (newlines included) made one space.
* :func:`slack_mrkdwn` — :func:`log_line`, then ``&``, ``<`` and ``>`` as Slack's entities: the
  only three characters Slack's ``mrkdwn`` gives a meaning to mentions and links with.
* :func:`markdown_cell` — :func:`log_line`, then the characters of inline markup backslash-escaped
  (CommonMark allows that for any punctuation), and the ``:`` of ``://``, the ``.`` of ``www.``
  and ``@`` too: no emphasis, link, image, HTML, autolink, code span or table column can start
  from the text.
"""

from __future__ import annotations

import re

# CSI (ESC [ ... final byte), OSC (ESC ] ... BEL or ESC \), and two-character ESC sequences.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")
# C0 and C1 controls (tab/newline/CR become spaces below), DEL, bidi embeddings/overrides/isolates,
# zero-width characters and the line/paragraph separators.
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_WHITESPACE = re.compile(r"[\s\u2028\u2029]+")
# Inline markup (emphasis, code, links, images, HTML, entities, strikethrough, table columns), and
# what GFM turns into links by itself: "scheme://", "www." and e-mail addresses.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>!|~&#@]|:(?=//)|(?<=[wW]{3})\.)")
_SLACK_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def log_line(value: object, limit: int | None = None) -> str:
    """``value`` as one line of plain text, without escape sequences or invisible characters.

    :param limit: cut to this many characters, ending with an ellipsis
    """
    text = _ANSI.sub("", str(value))
    text = _INVISIBLE.sub("", text)
    text = _WHITESPACE.sub(" ", text).strip()
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text


def slack_mrkdwn(value: object, limit: int | None = None) -> str:
    """``value`` as inert text inside a Slack ``mrkdwn`` message: no mention, link or channel ping."""
    return "".join(_SLACK_ENTITIES.get(char, char) for char in log_line(value, limit))


def markdown_cell(value: object, limit: int | None = None) -> str:
    """``value`` as literal text in a Markdown table cell: no markup, HTML, link or column break."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", log_line(value, limit))
