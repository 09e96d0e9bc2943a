#!/usr/bin/env python3
"""A burst of new connections: for SECONDS, CONNS clients at once each connect, send one
request, read the first bytes of the answer and close, over and over (stdlib only).

  connburst.py --seconds S --conns C --request 'GET / HTTP/1.0\\r\\n\\r\\n'

The port is $PORT on 127.0.0.1. Errors (a refused or reset connection) are counted, not
fatal: the burst is ordinary load, not a test of the server."""
import argparse, os, socket, threading, time


def client(request, until, counts):
    while time.monotonic() < until:
        try:
            with socket.create_connection(("127.0.0.1", int(os.environ["PORT"])), timeout=5) as s:
                s.sendall(request)
                s.recv(4096)
            counts[0] += 1
        except OSError:
            counts[1] += 1
            time.sleep(0.05)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--conns", type=int, default=20)
    p.add_argument("--request", required=True, help="sent as is, after \\r\\n unescaping")
    a = p.parse_args()
    request = a.request.encode().decode("unicode_escape").encode()
    until = time.monotonic() + a.seconds
    counts = [0, 0]
    threads = [threading.Thread(target=client, args=(request, until, counts)) for _ in range(a.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("connections %d, errors %d" % tuple(counts))


main()
