"""The tutorial's last step as a test: open each location in a browser,
refresh several times, read the port from the page. Debian's chromium,
headless, no background networking, through the lab's port on loopback."""

import re
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from support import run

LOADS = 9            # refreshes per location
PARALLEL = 2         # browsers at a time (2 cores)
CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--mute-audio"]
PORT = re.compile(r"<h1>(\d+)</h1>")


def chromium(*args, timeout=60):
    """One headless chromium run with a profile of its own, thrown away after."""
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: `make integration` installs it (scripts/install-chromium.sh)")
    with tempfile.TemporaryDirectory(prefix="edgeops-chromium-") as profile:
        return run([CHROMIUM, *FLAGS, "--user-data-dir=" + profile, *args], timeout=timeout)


def ports_seen(url):
    """The port each of LOADS loads of `url` shows in its first <h1>."""
    def load(attempt):
        found = PORT.search(chromium("--dump-dom", url).stdout)
        return found.group(1) if found else "no port in load %d" % attempt
    with ThreadPoolExecutor(PARALLEL) as pool:
        return Counter(pool.map(load, range(LOADS)))


@pytest.fixture(scope="module")
def refreshed(converged, lab):
    """Every location of the lab loaded LOADS times, once the site converged."""
    return {path: ports_seen(lab.url + path) for path in ("/proxy", "/roundrobin", "/leastconn", "/iphash",
                                                          "/weighted")}


def test_roundrobin_shows_all_three_ports(refreshed, figure):
    for path, seen in refreshed.items():
        figure("ports in %d loads of %s" % (LOADS, path), dict(sorted(seen.items())))
    assert refreshed["/roundrobin"] == Counter({"7001": 3, "7002": 3, "7003": 3})
    assert set(refreshed["/leastconn"]) == {"7001", "7002", "7003"}


def test_iphash_always_shows_the_same_port(refreshed):
    assert len(refreshed["/iphash"]) == 1 and set(refreshed["/iphash"]) <= {"7001", "7002", "7003"}


def test_weighted_shows_7001_most(refreshed):
    seen = refreshed["/weighted"]
    assert set(seen) == {"7001", "7002", "7003"}
    assert seen["7001"] > max(seen["7002"], seen["7003"]), seen


def test_proxy_shows_7001(refreshed):
    assert refreshed["/proxy"] == Counter({"7001": LOADS})


def test_screenshot_of_a_page(converged, lab, artifacts):
    target = artifacts / "weighted.png"
    target.unlink(missing_ok=True)
    chromium("--window-size=900,600", "--screenshot=%s" % target, lab.url + "/weighted")
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 2000


def test_the_report_renders_in_the_browser(converged, artifacts):
    """lb_verify's page, as chromium builds it: five charts; and its picture."""
    page = artifacts / "distribution.html"
    dom = chromium("--dump-dom", page.as_uri()).stdout
    assert dom.count("<svg") == 5 and dom.count('class="seen') == 13     # 1 + 3 + 3 + 3 + 3 backends
    picture = artifacts / "distribution.png"
    picture.unlink(missing_ok=True)
    chromium("--window-size=740,1160", "--screenshot=%s" % picture, page.as_uri())
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ET.fromstring(page.read_text().split("\n", 1)[1])
