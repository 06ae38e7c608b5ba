"""Helpers of the edge scenario's verifiers: requests sent inside the host
under test to 127.0.0.1 (loopback), over https, verified against the host's
own self-signed certificate; bounded in count and time."""

import json

from lbcheck import _quote

CERT = "/etc/nginx/tls/edgeops_lb.crt"
# The s_client lines the tests read.
_INTERESTING = "alert|unsupported protocol|Protocol|New, |Verify return code|ALPN|Cipher is|error"
NAME = "lb.example.test"

# Sequential keep-alive GETs over https, verified against the host's own
# certificate; bounded in count and time. Prints {"X-Backend": n, ...}.
_COUNT_TLS = r'''
import http.client, json, ssl, sys, time
path, n = sys.argv[1], int(sys.argv[2])
context = ssl.create_default_context(cafile="%s")
counts, deadline, conn = {}, time.monotonic() + 60, None
for _ in range(n):
    if time.monotonic() > deadline:
        break
    try:
        if conn is None:
            conn = http.client.HTTPSConnection("127.0.0.1", 443, timeout=5, context=context)
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        key = r.getheader("X-Backend").rsplit(":", 1)[1] if r.status == 200 else "status %%d" %% r.status
    except Exception as exc:
        key, conn = "error %%s" %% type(exc).__name__, None
    counts[key] = counts.get(key, 0) + 1
print(json.dumps(counts))
''' % CERT

_REDIRECT = r'''
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", 80, timeout=5)
c.request("GET", sys.argv[1], headers={"Host": sys.argv[2]})
r = c.getresponse()
print(json.dumps([r.status, r.getheader("Location")]))
'''


def count_tls(host, path, requests):
    result = host.run("python3 -c %s %s %d" % (_quote(_COUNT_TLS), _quote(path), requests))
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


def handshake(host, *args):
    """openssl s_client against the LB on 127.0.0.1:443: its exit status and
    the text lines the tests read (not the binary session dump it may print)."""
    command = "openssl s_client -connect 127.0.0.1:443 -servername %s %s </dev/null" % (NAME, " ".join(args))
    return host.run("timeout 10 %s > /tmp/s_client.out 2>&1; rc=$?; grep -a -E '%s' /tmp/s_client.out | tr -cd "
                    "'[:print:]\\n'; exit $rc" % (command, _INTERESTING))
