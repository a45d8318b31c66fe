"""A view is a function of its URL (DESIGN.md, principle 11): each page's settings live in its query string.

A page declares its parameters once, as ``Param``s (the name in the URL, the session-state key of the widget
that shows it, the default, and how the URL's text is read and written), then:

    view = url_state.View("toy", [integer("seed", "toy_seed", "Task seed", 0, 0, MAX_SEED), ...])
    view.header("One update vs k steps")      # the title, a "Link" button, a note on anything the URL got wrong
    st.number_input("Task seed", min_value=0, max_value=MAX_SEED, step=1, key="toy_seed")   # no value=: seeded
    view.write()                               # after the widgets: their values into the URL

``View`` reads ``st.query_params`` before the widgets and seeds each widget's key from it. A value that cannot
be used (not a number, out of range, not an option) falls back to the default, with a plain warning naming the
parameter: never a traceback. ``write`` puts the widgets' values back, leaving out those equal to the default
so that links stay short. Streamlit empties the query string when a visitor switches pages and forgets the
widgets of a page that is not shown: the last query of each page is kept in session state and put back when
the page is entered again without one.

The URL is read into the widgets only when a widget has no value yet (a new visitor, a page entered again) or
the browser went back or forward in its history: any other rerun may carry the query string of the run before
(a visitor who clicks twice quickly), and the widgets already hold what the visitor chose.

A few settings belong to the whole studio rather than to one page (``SHARED``: presenter mode). Every page's
``View`` reads and writes them too, but their value lives in plain session state, not in a widget of one page,
so it survives page switches; ``app/studio.py`` reads them (``seed_shared``) before the page runs.
"""

from __future__ import annotations

import copy
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import streamlit as st

# The address students use, when the browser that asks for a link is on the serving computer itself (its
# address says localhost, which means nothing on another device): ./run_app.sh sets it when it serves the
# network, e.g. https://192.168.1.20:8501.
PUBLIC_URL_ENV = "HYPERMAML_STUDIO_URL"
LOOPBACK = ("localhost", "127.0.0.1", "::1")
MAX_SHOWN = 40  # characters of a URL's value quoted back in a message


@dataclass(frozen=True)
class Param:
    """One setting of a page in its URL.

    ``parse`` turns the URL's text into the widget's value or raises ``ValueError`` whose message says what the
    setting takes ("a whole number from 0 to 10"); ``text`` is its inverse. ``always``: written even when equal
    to the default, for a default that differs between servers (the data a server has). ``private``: a secret
    (an edit key) that may sit in the visitor's own address bar but is never put in the "Link" a page offers
    for sharing.
    """

    name: str
    key: str
    label: str
    default: Any
    parse: Callable[[str], Any]
    text: Callable[[Any], str] = str
    always: bool = False
    private: bool = False


def integer(name: str, key: str, label: str, default: int, lo: int, hi: int, step: int = 1) -> Param:
    rule = f"a whole number from {lo} to {hi}" + (f" in steps of {step}" if step != 1 else "")

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(rule) from None
        if not lo <= value <= hi or (value - lo) % step:
            raise ValueError(rule)
        return value

    return Param(name, key, label, default, parse)


def number(name: str, key: str, label: str, default: float, lo: float, hi: float, step: float) -> Param:
    rule = f"a number from {lo:g} to {hi:g} in steps of {step:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(rule) from None
        if not math.isfinite(value) or not lo <= value <= hi:
            raise ValueError(rule)
        on_grid = round(lo + round((value - lo) / step) * step, 10)  # the value a slider with this step can hold
        if abs(on_grid - value) > 1e-9:
            raise ValueError(rule)
        return on_grid

    return Param(name, key, label, float(default), parse, lambda v: f"{float(v):g}")


def choice(name: str, key: str, label: str, default: Any, options: Mapping[str, Any], always: bool = False) -> Param:
    """A choice among ``options``: the word in the URL -> the widget's value."""
    words = {value: word for word, value in options.items()}
    rule = "one of " + ", ".join(options)

    def parse(text: str) -> Any:
        if text not in options:
            raise ValueError(rule)
        return options[text]

    return Param(name, key, label, default, parse, words.__getitem__, always)


def flag(name: str, key: str, label: str, default: bool = False) -> Param:
    def parse(text: str) -> bool:
        if text.lower() not in ("1", "0", "true", "false"):
            raise ValueError("1 (on) or 0 (off)")
        return text.lower() in ("1", "true")

    return Param(name, key, label, default, parse, lambda v: "1" if v else "0")


def integers(name: str, key: str, label: str, default: Sequence[int], allowed: Sequence[int]) -> Param:
    """A set of whole numbers among ``allowed``, as a sorted list (a multi-choice widget's value), written
    ``1_5`` (no character a URL escapes; "," is read too); ``none`` for no number."""
    rule = "numbers among " + ", ".join(map(str, allowed)) + " joined by _ (like 1_5), or none"

    def parse(text: str) -> list[int]:
        if text == "none":
            return []
        try:
            values = sorted({int(v) for v in re.split(r"[_,]", text)})
        except ValueError:
            raise ValueError(rule) from None
        if not set(values) <= set(allowed):
            raise ValueError(rule)
        return values

    def text(value) -> str:
        return "_".join(str(v) for v in sorted(value)) or "none"

    return Param(name, key, label, sorted(default), parse, text)


def pattern(name: str, key: str, label: str, regex: str, rule: str, private: bool = False) -> Param:
    """Text of a fixed shape (an id, or a ``private`` key), no default."""
    compiled = re.compile(regex)

    def parse(text: str) -> str:
        if not compiled.fullmatch(text):
            raise ValueError(rule)
        return text

    return Param(name, key, label, None, parse, private=private)


def points(name: str, key: str, label: str, max_points: int, max_abs: float) -> Param:
    """Labelled 2-D points, [(x, y, class 0 or 1)], to 2 decimals: ``4_7_0~-4.5_6.25_0~1_7_1`` (characters a URL
    never escapes; "," and ";" are read too, for a link typed by hand). The default: no points."""
    rule = (
        f"at most {max_points} points written `x_y_class` with `~` between them (`4_7_0~1_7_1`), each |x| and "
        f"|y| at most {max_abs:g}, and class 0 or 1"
    )

    def parse(text: str) -> list[tuple[float, float, int]]:
        found = []
        for item in filter(None, re.split(r"[~;]", text)):
            parts = re.split(r"[_,]", item)
            try:
                x, y, label = float(parts[0]), float(parts[1]), int(parts[2])
            except (ValueError, IndexError):
                raise ValueError(rule) from None
            if len(parts) != 3 or label not in (0, 1) or not (abs(x) <= max_abs and abs(y) <= max_abs):
                raise ValueError(rule)  # (abs(nan) <= max_abs is False: nan and inf are refused too)
            found.append((round(x, 2), round(y, 2), label))
        if not found or len(found) > max_points:
            raise ValueError(rule)
        return found

    def text(value) -> str:
        return "~".join(f"{round(x, 2):g}_{round(y, 2):g}_{int(label)}" for x, y, label in value)

    return Param(name, key, label, [], parse, text)


def plain(text: str) -> str:
    """Text from a URL, shown as itself inside Markdown: every ASCII punctuation mark escaped, one line, short."""
    text = " ".join(text.split())
    if len(text) > MAX_SHOWN:
        text = text[:MAX_SHOWN] + "…"
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", text)


def _history_navigation() -> bool:
    """Whether this run follows the browser's back or forward button (then the URL is what the visitor wants).
    Streamlit has no public API for it; an older or newer Streamlit without the attribute reads False."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    return bool(getattr(get_script_run_ctx(), "is_history_navigation", False))


# Settings of the whole studio, in every page's URL: their keys are plain session state (no widget), kept across
# page switches. Presenter mode: the sidebar and toolbar hidden, figures drawn for a projector (app/studio.py).
PRESENTER = flag("present", "studio_presenter", "Presenter mode")
SHARED = (PRESENTER,)


def seed_shared() -> None:
    """The studio-wide settings from the URL, for a new visitor or a step back or forward in the browser's
    history (otherwise the session's own value stands: a page switch empties the URL, not the setting)."""
    state, given, history = st.session_state, st.query_params.to_dict(), _history_navigation()
    for p in SHARED:
        if history or p.key not in state:
            try:
                state[p.key] = p.parse(given[p.name]) if p.name in given else p.default
            except ValueError:
                state[p.key] = p.default  # the page's View says what was wrong with it


def presenter() -> bool:
    """Whether this visitor's studio is in presenter mode."""
    return bool(st.session_state.get(PRESENTER.key, PRESENTER.default))


class View:
    """One page's parameters: read from the URL (or the page's last query) before its widgets, written after."""

    def __init__(self, page: str, params: Sequence[Param]) -> None:
        self.page = page
        self.params = {p.name: p for p in params}
        for p in SHARED:
            self.params.setdefault(p.name, p)
        self.notes: list[str] = []
        self.seeded: set[str] = set()  # names whose widgets took their value from the URL in this run
        state = st.session_state
        given = st.query_params.to_dict()
        ours = {k: v for k, v in given.items() if k in self.params}
        shared = {p.name for p in SHARED}
        if not set(ours) - shared and state.get(self._memo):
            # back on this page without a query of its own: its last view (the studio-wide settings as they are)
            ours = {k: v for k, v in state[self._memo].items() if k not in shared} | {k: ours[k] for k in shared & set(ours)}
        history = _history_navigation()
        self.values: dict[str, Any] = {}  # what the URL says, checked (the default where it says nothing usable)
        for name, p in self.params.items():
            value = p.default
            if name in ours:
                try:
                    value = p.parse(ours[name])
                except ValueError as exc:
                    default = "" if p.default is None else p.text(p.default)
                    instead = f"Showing {plain(default)} instead." if default else "It was ignored."
                    self.notes.append(
                        f"The link's **{name}={plain(ours[name])}** cannot be used: {p.label} takes {exc}. {instead}"
                    )
            self.values[name] = value
            if history or p.key not in state:
                state[p.key] = copy.copy(value)
                self.seeded.add(name)
        for name in given:
            if name not in self.params:
                self.notes.append(f"The link's **{plain(name)}** is not a setting of this page; it was ignored.")

    @property
    def _memo(self) -> str:
        return f"url_state_{self.page}"

    def header(self, title: str) -> None:
        """The page's title with the "Link" button at its right, then a warning for what the URL got wrong."""
        with st.container(horizontal=True, vertical_alignment="center", wrap=False):
            st.title(title, width="stretch")
            with st.container(width="content"):  # (a fragment's own container would take half the row)
                _link_button(self)
        if self.notes:
            st.warning("\n\n".join(self.notes), icon=":material/link_off:")

    def note(self, text: str) -> None:
        """A page's own word on a URL value it had to change (shown at once, under the header)."""
        st.warning(text, icon=":material/link_off:")

    def query(self) -> dict[str, str]:
        """The page's current settings as URL text, the defaults left out (``always`` ones kept)."""
        state = st.session_state
        query = {}
        for name, p in self.params.items():
            value = state[p.key] if p.key in state else self.values[name]
            if value is None or (value == p.default and not p.always):
                continue
            try:
                query[name] = p.text(value)
            except (KeyError, ValueError):
                continue  # a value the URL cannot hold (an option that no longer exists): left out
        return query

    def shareable_query(self) -> dict[str, str]:
        """``query`` without the private settings: what the page's "Link" gives to others."""
        return {name: text for name, text in self.query().items() if not self.params[name].private}

    def write(self) -> None:
        """The current settings into the URL (only when they changed: every write is a message to the browser)."""
        query = self.query()
        st.session_state[self._memo] = query
        if st.query_params.to_dict() != query:
            st.query_params.from_dict(query)


def link(query: Mapping[str, str]) -> str:
    """The full address of the current page with ``query``: the browser's address (a student's own host name);
    on the serving computer itself, the address other devices use, when ./run_app.sh gave one."""
    base = st.context.url or ""
    parts = urlsplit(base)
    public = os.environ.get(PUBLIC_URL_ENV, "").rstrip("/")
    if public and (parts.hostname or "localhost") in LOOPBACK:
        public_parts = urlsplit(public)
        parts = parts._replace(scheme=public_parts.scheme, netloc=public_parts.netloc)
    path = parts.path or "/"
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), ""))


@st.fragment
def _link_button(view: View) -> None:
    """A "Link" popover, its own fragment: opening it reruns only this, and the link is the view's at that
    moment (a setting changed inside another fragment, like the toy's α, is in it)."""
    with st.popover("Link", icon=":material/link:", key=f"{view.page}_link", on_change="rerun") as popover:
        if popover.open:
            private = [p.label.lower() for name, p in view.params.items() if p.private and name in view.query()]
            st.caption(
                "The address of this view: it opens the same settings and shows the same numbers."
                + (
                    f" It leaves out {' and '.join(private)}, which only you should have: opened without it, the page "
                    "lets others look and add, not change what you made."
                    if private
                    else ""
                )
            )
            st.code(link(view.shareable_query()), language=None, wrap_lines=True)


def insecure_origin() -> bool:
    """Whether the browser reached the studio over plain http from another device: browsers then refuse the
    camera (and the clipboard). ``localhost`` and 127.x count as secure; an unknown address (tests) does too."""
    url = st.context.url
    if not url:
        return False
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    loopback = host in LOOPBACK or host.endswith(".localhost") or host.startswith("127.")
    return parts.scheme == "http" and not loopback
