"""lb_verify's picture: a self-contained page, well-formed XML, one SVG per
location, one bar per backend, the expected outline, labels escaped."""

import os
import stat

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _report
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._verify import LocationResult

from helpers.report_page import SVG, charts, parse, seen_bars

XHTML = "{http://www.w3.org/1999/xhtml}"

P1, P2, P3 = "127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"


def location(path, counts, expected=None, passed=True, **extra):
    fields = dict(path=path, upstream=path.strip("/") or "root", method="round_robin", expectation="round_robin",
                  polled=True, requests=sum(counts.values()), counts=counts, expected=expected,
                  problems=[] if passed else ["%s: expected something else" % path],
                  latency_ms={"p50": 0.4, "p99": 1.0}, requests_per_s=3000.0)
    fields.update(extra)
    return LocationResult(**fields)


WEIGHTED = location("/weighted", {P1: 60, P2: 30, P3: 30}, {P1: 60, P2: 30, P3: 30})
WRONG = location("/weighted", {P1: 75, P2: 45, P3: 0}, {P1: 60, P2: 30, P3: 30}, passed=False)
STRANGER = location("/rr", {P1: 40, P2: 40, "other:8000": 40}, {P1: 60, P2: 60}, passed=False)
IPHASH = location("/iphash", {P1: 45, P2: 45, P3: 30}, None, method="ip_hash", expectation="ip_hash",
                  clients={"127.0.%d.1" % n: {(P1, P2, P3)[(4340 + n) % 3]: 15} for n in range(1, 9)})
RANDOM = location("/random", {P1: 2010, P2: 990, P3: 1000}, {P1: 2000.0, P2: 1000.0, P3: 1000.0},
                  method="random", expectation="random")
ONE = location("/proxy", {P1: 120}, {P1: 120})
NOTHING = LocationResult("/nowhere", problems=["/nowhere: no upstream known for this location"])
HOSTILE = location('/a"<b>&c', {'<script>alert("x")</script>:1': 3, "bell\x07:2": 1, P1: 2},
                   {P1: 2}, passed=False)


@pytest.mark.parametrize("results", [
    [WEIGHTED], [WRONG], [STRANGER], [IPHASH], [RANDOM], [ONE], [NOTHING], [HOSTILE],
    [ONE, WEIGHTED, IPHASH, WRONG, NOTHING], [],
], ids=["weighted", "wrong", "stranger", "iphash", "random", "one", "nothing", "hostile", "five", "none"])
def test_page_is_xml_with_one_svg_per_location(results):
    page = _report.render(results, url="http://127.0.0.1", host="lb1", generated="2026-11-29 12:00:00 UTC")
    assert page.startswith("<!DOCTYPE html>\n")
    root = parse(page)
    assert root.tag == XHTML + "html"
    assert len(charts(page)) == len(results)
    sections = root.findall(".//%ssection" % XHTML)
    assert [s.get("class").split()[1] for s in sections] == ["pass" if r.passed else "fail" for r in results]


@pytest.mark.parametrize("result, bars", [
    (WEIGHTED, 3), (WRONG, 3), (STRANGER, 3), (IPHASH, 3), (RANDOM, 3), (ONE, 1), (NOTHING, 0), (HOSTILE, 3),
])
def test_one_bar_per_backend(result, bars):
    svg, = charts(_report.render([result]))
    assert len(seen_bars(svg)) == bars == len(_report.backends(result))
    expected = [r for r in svg.iter(SVG + "rect") if r.get("class") == "expected"]
    assert len(expected) == len(result.expected or {})


def test_bar_lengths_follow_the_counts_and_the_expected_outline():
    svg, = charts(_report.render([WRONG]))
    widths = [float(r.get("width")) for r in seen_bars(svg)]
    assert widths[0] == pytest.approx(_report.BAR_W)                 # 75, the largest value, fills the scale
    assert widths[1] == pytest.approx(_report.BAR_W * 45 / 75.0)
    assert widths[2] == 0
    outlines = [float(r.get("width")) for r in svg.iter(SVG + "rect") if r.get("class") == "expected"]
    assert outlines == pytest.approx([_report.BAR_W * n / 75.0 for n in (60, 30, 30)])
    labels = [t.text for t in svg.iter(SVG + "text") if t.get("text-anchor") == "end"]
    assert labels == ["7001", "7002", "7003"]
    figures = [t.text for t in svg.iter(SVG + "text") if t.text and " / " in t.text]
    assert figures == ["75 / 60", "45 / 30", "0 / 30"]


def test_stranger_and_sticky_clients_are_marked():
    svg, = charts(_report.render([STRANGER]))
    assert [r.get("class") for r in seen_bars(svg)] == ["seen", "seen", "seen stranger"]
    svg, = charts(_report.render([IPHASH]))
    tips = [g.find(SVG + "title").text for g in svg.iter(SVG + "g")]
    assert tips[0] == "127.0.0.1:7001: 45 responses, clients 127.0.1.1 127.0.4.1 127.0.7.1"
    assert sum(t.text.endswith("clients") for t in svg.iter(SVG + "text") if t.text) == 3


@pytest.mark.parametrize("field", ["path", "backend", "problem"])
def test_labels_are_escaped(field):
    page = _report.render([HOSTILE], title="<b>lb</b>")
    assert "<script>" not in page and "<b>" not in page and "\x07" not in page
    root = parse(page)
    texts = "".join(root.itertext())
    wanted = {"path": '/a"<b>&c', "backend": '<script>alert("x")</script>:1', "problem": '/a"<b>&c: expected'}
    assert wanted[field] in texts
    assert root.find(".//%sscript" % XHTML) is None and root.find(".//%sscript" % SVG) is None


def test_page_is_self_contained():
    page = _report.render([ONE, WEIGHTED, IPHASH])
    root = parse(page)
    for element in root.iter():
        for name, value in element.attrib.items():
            assert name not in ("src", "href", "{http://www.w3.org/1999/xlink}href"), (element.tag, value)
    assert "url(" not in page and "@import" not in page


def test_write_is_atomic_and_honours_the_umask(tmp_path):
    target = tmp_path / "report.html"
    target.write_text("old")
    old = os.umask(0o027)
    try:
        assert _report.write(str(target), _report.render([ONE])) == str(target)
    finally:
        os.umask(old)
    assert parse(target.read_text())
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    with pytest.raises(OSError):
        _report.write(str(tmp_path / "missing" / "report.html"), "x")
