# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lb_verify's results as a picture: one self-contained HTML page (no script,
no external file) with one inline SVG bar chart per location, a bar per
backend for the responses seen and a dashed outline for what nginx's
algorithm must give. The page is well-formed XML, so xml.etree reads it.

Standard library only: it runs on targets.
"""

from __future__ import annotations

import os
import re
import tempfile
from html import escape

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._http_poll import redact_url
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._verify import _short

# Geometry of one chart, in SVG user units (px).
WIDTH = 640
LABEL_W = 150          # backend names, right-aligned
BAR_X = 160
BAR_W = 330            # the longest bar (seen or expected)
ROW_H = 28
BAR_H = 16
TOP = 8
AXIS_H = 22
LABEL_CHARS = 21       # longer names are cut in the picture, whole in the tooltip

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")

STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2733;background:#fff;max-width:700px}
h1{font-size:20px;margin:0 0 4px}
p.meta{color:#5b6773;margin:0 0 16px}
section{border:1px solid #d6dce2;border-radius:6px;padding:10px 14px;margin:0 0 14px}
section.fail{border-color:#d4504b}
h2{font-size:16px;margin:0 0 2px;font-family:ui-monospace,Menlo,Consolas,monospace}
h2 .badge{font:bold 12px system-ui,sans-serif;padding:1px 7px;border-radius:9px;color:#fff;margin-right:8px;vertical-align:2px}
.pass .badge{background:#2f8a4c}
.fail .badge{background:#c23b36}
p.detail{color:#5b6773;margin:0 0 6px;font-size:13px}
ul.problems{color:#a3302b;margin:4px 0 0;padding-left:20px;font-size:13px}
svg{display:block}
svg text{font:12px ui-monospace,Menlo,Consolas,monospace;fill:#1d2733}
svg text.tick{fill:#7b8691;font-size:11px}
svg line.grid{stroke:#e4e8ec}
svg rect.seen{fill:#3f8f5a}
.fail svg rect.seen{fill:#d4504b}
svg rect.seen.stranger{fill:#e08a2c}
svg rect.expected{fill:none;stroke:#1d2733;stroke-width:1.5;stroke-dasharray:4 3}
p.legend{color:#5b6773;font-size:12px}
"""


def _text(value):
    """Any value as XML-safe, HTML-escaped text."""
    return escape(_NOT_XML.sub("\ufffd", str(value)), quote=True)


def _number(value):
    if value is None:
        return "-"
    if float(value) == int(value):
        return "%d" % value
    return "%.1f" % value


def _cut(label):
    return label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + "\u2026"


def backends(result):
    """The backends one chart shows, in order: the expected ones (the
    upstream's order), then any that answered without being expected."""
    expected = result.expected or {}
    counts = result.counts or {}
    return list(expected) + [a for a in counts if a not in expected]


def _clients_per_backend(result):
    """ip_hash/hash: backend -> the client addresses that stuck to it."""
    found = {}
    for client, mapped in sorted((result.clients or {}).items()):
        for address in mapped:
            found.setdefault(address, []).append(client)
    return found


def _ticks(top):
    """Round values from 0 up to the top of the scale, at most five."""
    step = 1
    while top / step > 4:
        for factor in (2, 5, 10):
            if top / (step * factor) <= 4:
                step *= factor
                break
        else:
            step *= 10
    return list(range(0, int(top) + 1, step))


def chart(result):
    """One location's SVG: a row per backend, seen as a bar, expected as a
    dashed outline of the length the algorithm gives."""
    names = backends(result)
    counts = result.counts or {}
    expected = result.expected
    sticky = _clients_per_backend(result)
    rows = max(1, len(names))
    height = TOP + rows * ROW_H + AXIS_H
    label = "%s: %s" % (result.path, ", ".join(
        "%s %s" % (_short(a), _number(counts.get(a, 0))) for a in names) or "no responses")
    out = ['<svg xmlns="http://www.w3.org/2000/svg" role="img" width="%d" height="%d" viewBox="0 0 %d %d" '
           'aria-label="%s">' % (WIDTH, height, WIDTH, height, _text(label))]
    out.append("<title>%s</title>" % _text(label))
    if not names:
        out.append('<text x="%d" y="%d">no responses</text>' % (BAR_X, TOP + ROW_H // 2 + 4))
        out.append("</svg>")
        return "".join(out)

    top = max([counts.get(a, 0) for a in names] + list((expected or {}).values()) + [1])
    scale = BAR_W / float(top)
    axis_y = TOP + rows * ROW_H
    for tick in _ticks(top):
        x = BAR_X + tick * scale
        out.append('<line class="grid" x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>' % (x, TOP, x, axis_y))
        out.append('<text class="tick" x="%.1f" y="%d" text-anchor="middle">%d</text>' % (x, axis_y + 15, tick))
    for index, address in enumerate(names):
        y = TOP + index * ROW_H
        seen = counts.get(address, 0)
        want = expected.get(address) if expected else None
        short = _short(address)
        tip = "%s: %s responses" % (address, _number(seen))
        if want is not None:
            tip += ", expected %s" % _number(want)
        if address in sticky:
            tip += ", clients %s" % " ".join(sticky[address])
        stranger = expected is not None and want is None
        out.append('<g class="backend" data-backend="%s"><title>%s</title>' % (_text(address), _text(tip)))
        out.append('<text x="%d" y="%d" text-anchor="end">%s</text>'
                   % (LABEL_W, y + ROW_H // 2 + 4, _text(_cut(short))))
        out.append('<rect class="seen%s" x="%d" y="%d" width="%.1f" height="%d" rx="2"/>'
                   % (" stranger" if stranger else "", BAR_X, y + (ROW_H - BAR_H) // 2, seen * scale, BAR_H))
        if want is not None:
            out.append('<rect class="expected" x="%d" y="%d" width="%.1f" height="%d"/>'
                       % (BAR_X, y + (ROW_H - BAR_H) // 2 - 2, want * scale, BAR_H + 4))
        figure = _number(seen) if want is None else "%s / %s" % (_number(seen), _number(want))
        if address in sticky:
            figure += " \u00b7 %d client%s" % (len(sticky[address]), "" if len(sticky[address]) == 1 else "s")
        out.append('<text x="%d" y="%d">%s</text>' % (BAR_X + BAR_W + 8, y + ROW_H // 2 + 4, _text(figure)))
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def _detail(result):
    if not result.polled:
        return ""
    parts = ["upstream %s" % result.upstream, result.method]
    if result.expectation != result.method:
        parts.append("judged as %s" % result.expectation)
    # A stream (tcp://, udp://) counts connections or datagrams.
    unit = {"tcp": "connections", "udp": "datagrams"}.get(getattr(result, "protocol", None), "requests")
    parts.append("%s %s" % (result.requests, unit))
    if result.failed:
        parts.append("%s failed" % result.failed)
    if result.abandoned:
        parts.append("%s cut off at the deadline" % result.abandoned)
    latency = result.latency_ms or {}
    if latency.get("p99") is not None:
        parts.append("p99 %s ms" % latency["p99"])
    if result.requests_per_s:
        parts.append("%d %s/s" % (result.requests_per_s, "req" if unit == "requests" else unit))
    if result.clients:
        parts.append("%d clients" % len(result.clients))
    return '<p class="detail">%s</p>' % _text(" \u00b7 ".join(str(p) for p in parts if p is not None))


def section(result, index):
    state = "pass" if result.passed else "fail"
    out = ['<section class="location %s" id="location-%d">' % (state, index)]
    out.append('<h2><span class="badge">%s</span>%s</h2>' % (state.upper(), _text(result.path)))
    out.append(_detail(result))
    out.append(chart(result))
    if result.problems:
        out.append('<ul class="problems">%s</ul>' % "".join("<li>%s</li>" % _text(p) for p in result.problems))
    out.append("</section>")
    return "".join(out)


def render(results, title="Load balancing, measured", url=None, host=None, generated=None):
    """The whole page for lb_verify's per-location results (LocationResult).
    Credentials in `url` are not shown."""
    passed = sum(1 for r in results if r.passed)
    meta = ["%d of %d locations as expected" % (passed, len(results))]
    if url:
        meta.append("polled %s" % redact_url(url))
    if host:
        meta.append("from %s" % host)
    if generated:
        meta.append(generated)
    return "".join([
        "<!DOCTYPE html>\n",
        '<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head><meta charset="utf-8"/>',
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>',
        "<title>%s</title><style>%s</style></head>\n<body>" % (_text(title), STYLE),
        "<h1>%s</h1>" % _text(title),
        '<p class="meta">%s</p>\n' % _text(" \u00b7 ".join(meta)),
        "\n".join(section(r, i) for i, r in enumerate(results, 1)),
        '\n<p class="legend">Bar: responses each backend answered. Dashed outline: what nginx\'s algorithm gives '
        "for this many requests (smooth weighted round robin; the weights' share for random). "
        "ip_hash and hash: no share to expect, each client must stick to one backend.</p>",
        "</body></html>\n",
    ])


def write(path, page):
    """Write the page to `path` atomically (a temporary file in the same
    directory, then rename), readable like any file made under the umask."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".lb_verify-", suffix=".html", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(page)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path
