"""Hand the floating addresses over before nginx stops: ExecStart/ExecStop of
edgeops-ha-handover.service, a unit bound to nginx.service and ordered after
it, so systemd runs `down` before nginx stops (systemctl stop/restart nginx, a
shutdown) and right after nginx died.

  python3 handover.py up FILE
      nginx runs: 0 into keepalived's track file; this host takes part in
      the election again (the track script still needs its `rise`).
  python3 handover.py down FILE PORT SECONDS ADDRESS...
      1 into the track file: keepalived (it watches the file) puts this
      host's VRRP instances into FAULT at once, which sends the peers a
      priority 0 advert and removes the addresses here. Then wait until every
      ADDRESS has left this host and another host answers on it (a TCP SYN to
      PORT answered by a connection or a reset), at most SECONDS, so that the
      clients have a new load balancer before this nginx stops.

Exit 0 in both cases once the file is written; a peer that did not answer in
time is reported on stderr (the journal) and does not block nginx's stop.
Exit 2 on bad arguments or an unwritable file."""

import ipaddress
import re
import socket
import subprocess
import sys
import time

INET_RE = re.compile(r"\binet ([0-9.]+)/[0-9]+")


def held_addresses(ip_output):
    """The IPv4 addresses in `ip -o -4 address show` output."""
    return set(INET_RE.findall(ip_output))


def local_addresses():
    result = subprocess.run(["ip", "-o", "-4", "address", "show"], capture_output=True, text=True, check=False)
    return held_addresses(result.stdout)


def answered(address, port, timeout):
    """True when a host answers a TCP SYN to address:port (accepted or reset)."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def parse(argv):
    """(mode, file, port, seconds, [addresses]); ValueError naming the bad argument."""
    if len(argv) == 3 and argv[1] == "up":
        return "up", argv[2], None, None, []
    if len(argv) < 6 or argv[1] != "down":
        raise ValueError("usage: handover.py up FILE | handover.py down FILE PORT SECONDS ADDRESS...")
    if not argv[3].isdigit() or not 1 <= int(argv[3]) <= 65535:
        raise ValueError("PORT: must be 1-65535, got %r" % argv[3])
    try:
        seconds = float(argv[4])
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 600:
        raise ValueError("SECONDS: must be more than 0 and at most 600, got %r" % argv[4])
    addresses = []
    for text in argv[5:]:
        try:
            addresses.append(str(ipaddress.IPv4Address(text)))
        except ValueError:
            raise ValueError("ADDRESS: not an IPv4 address: %r" % text) from None
    return "down", argv[2], int(argv[3]), seconds, addresses


def write(path, value):
    with open(path, "w", encoding="ascii") as handle:
        handle.write("%d\n" % value)


def hand_over(port, seconds, addresses, local=local_addresses, probe=answered, clock=time.monotonic,
              sleep=time.sleep):
    """{address: seconds until another host answered on it, or None}, waiting at most `seconds` in all."""
    start = clock()
    deadline = start + seconds
    waiting = list(addresses)
    done = {}
    while waiting and clock() < deadline:
        mine = local()
        for address in list(waiting):
            if address not in mine and probe(address, port, min(0.3, max(0.01, deadline - clock()))):
                done[address] = round(clock() - start, 3)
                waiting.remove(address)
        if waiting:
            sleep(0.05)
    done.update({address: None for address in waiting})
    return done


def main(argv):
    try:
        mode, path, port, seconds, addresses = parse(argv)
        write(path, 0 if mode == "up" else 1)
    except (ValueError, OSError) as exc:
        sys.stderr.write("handover: %s\n" % exc)
        return 2
    if mode == "up":
        return 0
    for address, took in hand_over(port, seconds, addresses).items():
        if took is None:
            sys.stderr.write("handover: no other host answered on %s within %s s; stopping anyway\n"
                             % (address, seconds))
        else:
            sys.stderr.write("handover: %s answered by another host after %.2f s\n" % (address, took))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
