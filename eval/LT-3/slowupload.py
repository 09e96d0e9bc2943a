#!/usr/bin/env python3
"""A phone on a slow link uploads a 3 MB photo with PUT: 8 KB every 40 ms (about 200 KB/s)."""
import os, socket, sys, time

name = sys.argv[1]
size = 3 * 1024 * 1024
s = socket.create_connection(("127.0.0.1", int(os.environ["PORT"])))
s.sendall(b"PUT /uploads/%s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: photo-sync\r\n"
          b"Content-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % (name.encode(), size))
piece = b"\xff" * 8192
sent = 0
while sent < size:
    s.sendall(piece[: min(8192, size - sent)])
    sent += min(8192, size - sent)
    time.sleep(0.04)
print(name, s.recv(200).split(b"\r\n")[0].decode(), flush=True)
