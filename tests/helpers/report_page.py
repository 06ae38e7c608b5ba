"""Reading lb_verify's HTML report the way a browser would: its SVG charts and bars."""

import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"


def parse(page):
    return ET.fromstring(page.split("\n", 1)[1])   # past <!DOCTYPE html>


def charts(page):
    return parse(page).findall(".//%ssvg" % SVG)


def seen_bars(svg):
    return [r for r in svg.iter(SVG + "rect") if "seen" in r.get("class", "").split()]
