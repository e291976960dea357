"""Tables: the CSV reads back to the numbers, the Markdown and HTML views carry caption, table and provenance."""

from __future__ import annotations

import html.parser

import numpy as np
import pandas as pd

from ecgdiff.tables import html_path, read_table, read_table_provenance, write_table, write_table_pair

PROV = {"run": "t", "label": "a test", "config_hash": "abc", "seed": 1, "code_version": "0"}


class Cells(html.parser.HTMLParser):
    """The header and body cells of every table of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.head, self.body, self._cell = [], [], None

    def handle_starttag(self, tag, attrs):
        if tag in ("th", "td"):
            self._cell = (tag, [])

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1].append(data)

    def handle_endtag(self, tag):
        if self._cell is not None and tag == self._cell[0]:
            (self.head if tag == "th" else self.body).append("".join(self._cell[1]).strip())
            self._cell = None


def cells(path) -> Cells:
    parser = Cells()
    parser.feed(open(path).read())
    return parser


def test_write_table_views(tmp_path):
    df = pd.DataFrame({"method": ["MGPS", "a<b"], "rmse": [0.12345, np.nan], "n": [3, 4]})
    csv, md = tmp_path / "x.csv", tmp_path / "x.md"
    write_table(df, csv, md, caption="First paragraph.\n\nSecond & last.", provenance=PROV)
    back = read_table(csv)
    assert back["rmse"].iloc[0] == 0.12345 and np.isnan(back["rmse"].iloc[1])
    assert read_table_provenance(csv)["run"] == "t"
    assert html_path(md) == str(tmp_path / "x.html")
    page = open(html_path(md)).read()
    c = cells(html_path(md))
    assert c.head == ["method", "rmse", "n"]
    assert c.body == ["MGPS", "0.123", "3", "a<b", "", "4"]  # floats formatted, NaN empty, text escaped
    assert "a&lt;b" in page and "Second &amp; last." in page and "run=t" in page
    assert "http" not in page  # loads nothing from elsewhere


def test_write_table_pair_shows_the_display_view(tmp_path):
    numeric = pd.DataFrame({"rmse": [0.1], "rmse_lo": [0.05], "rmse_hi": [0.15]})
    display = pd.DataFrame({"RMSE": ["0.100 ± 0.050"]})
    write_table_pair(numeric, display, tmp_path / "t.csv", tmp_path / "t.md", "Cap.", PROV)
    assert list(read_table(tmp_path / "t.csv").columns) == ["rmse", "rmse_lo", "rmse_hi"]
    c = cells(tmp_path / "t.html")
    assert c.head == ["RMSE"] and c.body == ["0.100 ± 0.050"]
    assert "0.100 ± 0.050" in (tmp_path / "t.md").read_text()
