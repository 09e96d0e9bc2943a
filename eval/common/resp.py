#!/usr/bin/env python3
"""Tiny Redis (RESP2) client, stdlib only, shared by the case scripts (eval/common)."""
import os, socket


class Redis:
    def __init__(self, port=None, timeout=30):
        self.s = socket.create_connection(("127.0.0.1", int(port or os.environ["PORT"])), timeout=timeout)
        self.f = self.s.makefile("rb")

    @staticmethod
    def encode(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def read(self):
        line = self.f.readline()
        if not line:
            raise ConnectionError("connection closed")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2]
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ValueError("bad reply %r" % line)

    def cmd(self, *args):
        self.s.sendall(self.encode(*args))
        return self.read()

    def pipeline(self, commands):
        self.s.sendall(b"".join(self.encode(*c) for c in commands))
        return [self.read() for _ in commands]
