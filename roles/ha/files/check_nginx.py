"""keepalived's track script: nginx is healthy when URL answers 200 within
TIMEOUT seconds, as a client would see it (not only "the process exists").
Usage: python3 check_nginx.py URL TIMEOUT. Exit 0 healthy, 1 not."""

import sys
import urllib.request


def main(argv):
    url, timeout = argv[1], float(argv[2])
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    try:
        with opener.open(url, timeout=timeout) as response:  # nosec: a local URL from the role
            response.read(4096)
            return 0 if response.status == 200 else 1
    except Exception:  # pylint: disable=broad-except
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
