"""Hand the floating addresses over before nginx stops: ExecStart/ExecStop of
edgeops-ha-handover.service, a unit bound to nginx.service and ordered after
it, so systemd runs `down` before nginx stops (systemctl stop/restart nginx, a
shutdown) and right after nginx died.

  python3 handover.py up FILE
      nginx runs: 0 into keepalived's track file; this host takes part in
      the election again (the track script still needs its `rise`).
  python3 handover.py down FILE SERVICE PORT SECONDS ADDRESS...
      First SERVICE's main process (nginx's master, from systemd) gets
      SIGQUIT, nginx's graceful stop: it stops listening, closes idle
      keep-alive connections and finishes the requests in flight while this
      host still has the addresses; wait until it has exited, at most
      SECONDS. (An address taken away first loses those requests: this
      host can no longer send from it, and a client whose request was
      acknowledged waits for an answer that never comes, until its own
      timeout.) Then 1 into the track file: keepalived (it watches the file)
      puts this host's VRRP instances into FAULT at once, which sends the
      peers a priority 0 advert and removes the addresses here. Then wait
      until every ADDRESS has left this host and another host answers on it
      (a TCP SYN to PORT answered by a connection or a reset), at most
      SECONDS. Meanwhile a new connection's SYN meets no listener here and
      is dropped (ha_quiet_refusals): the client's kernel sends it again a
      second later, to the new holder.

Exit 0 in both cases once the file is written; an nginx that did not finish
or a peer that did not answer in time is reported on stderr (the journal) and
does not block nginx's stop. Exit 2 on bad arguments (nothing is signalled or
written) or an unwritable file."""

import ipaddress
import os
import re
import signal
import socket
import subprocess
import sys
import time

INET_RE = re.compile(r"\binet ([0-9.]+)/[0-9]+")
SERVICE_RE = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9@._-]{0,200}\Z")


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


def main_pid(service, run=subprocess.run):
    """SERVICE's main process id from systemd, or None (not running, or no systemd)."""
    try:
        result = run(["systemctl", "show", "--property", "MainPID", "--value", "--", service],
                     capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    text = result.stdout.strip()
    return int(text) if result.returncode == 0 and text.isdigit() and int(text) > 1 else None


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def drain(pid, seconds, kill=os.kill, is_alive=alive, clock=time.monotonic, sleep=time.sleep):
    """SIGQUIT to `pid` (nginx's graceful stop), then seconds until it exited, or None after `seconds`."""
    start = clock()
    try:
        kill(pid, signal.SIGQUIT)
    except ProcessLookupError:
        return 0.0
    while clock() - start < seconds:
        if not is_alive(pid):
            return round(clock() - start, 3)
        sleep(0.02)
    return None if is_alive(pid) else round(clock() - start, 3)


def let_finish(service, seconds):
    """SERVICE's main process, if any, finishes its requests (drain); one journal line on how it went.
    Never raises: the hand-over goes on whatever happened."""
    pid = main_pid(service)
    if pid is None:
        return
    try:
        took = drain(pid, seconds)
    except OSError as exc:  # not ours to signal
        sys.stderr.write("handover: could not ask %s (pid %d) to finish: %s\n" % (service, pid, exc))
        return
    if took is None:
        sys.stderr.write("handover: %s (pid %d) still finishing requests after %s s; handing over anyway\n"
                         % (service, pid, seconds))
    else:
        sys.stderr.write("handover: %s (pid %d) finished its requests and exited after %.2f s\n"
                         % (service, pid, took))


def parse(argv):
    """(mode, file, service, port, seconds, [addresses]); ValueError naming the bad argument."""
    if len(argv) == 3 and argv[1] == "up":
        return "up", argv[2], None, None, None, []
    if len(argv) < 7 or argv[1] != "down":
        raise ValueError("usage: handover.py up FILE | handover.py down FILE SERVICE PORT SECONDS ADDRESS...")
    if not SERVICE_RE.match(argv[3]):
        raise ValueError("SERVICE: not a systemd unit name: %r" % argv[3])
    if not argv[4].isdigit() or not 1 <= int(argv[4]) <= 65535:
        raise ValueError("PORT: must be 1-65535, got %r" % argv[4])
    try:
        seconds = float(argv[5])
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 600:
        raise ValueError("SECONDS: must be more than 0 and at most 600, got %r" % argv[5])
    addresses = []
    for text in argv[6:]:
        try:
            addresses.append(str(ipaddress.IPv4Address(text)))
        except ValueError:
            raise ValueError("ADDRESS: not an IPv4 address: %r" % text) from None
    return "down", argv[2], argv[3], int(argv[4]), seconds, addresses


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
        mode, path, service, port, seconds, addresses = parse(argv)
    except ValueError as exc:
        sys.stderr.write("handover: %s\n" % exc)
        return 2
    if mode == "down":
        let_finish(service, seconds)
    try:
        write(path, 0 if mode == "up" else 1)
    except OSError as exc:
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
