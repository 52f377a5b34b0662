#!/usr/bin/python3
"""
Slow DNS-over-TCP clients against the embedded resolver (127.0.0.11:53), run inside a
sandbox's namespace by test/lab/dns-exhaustion.test.ts. Bounded: it stops after
seconds=S whatever happens, and holds at most trickle=N + chatty=M connections at once.

  trickle=N   connections that send one byte a second of a message announced as 512 bytes
              (it never completes: each byte used to reset the server's idle timeout)
  chatty=M    connections that send one complete query (A <name>) a second and read the
              answers (each used to be a sign of life that kept the connection open)
  seconds=S   how long to run
  reconnect=D reopen a slot D seconds after the server closed it (omit: never)
  name=NAME   the name chatty connections ask for

Prints one JSON line: per kind, connections opened, closed by the server (EOF or reset)
with their lives in seconds (established to closed), still open at the end with their
ages, answers read per closed chatty connection, connects that failed.
"""
import json
import selectors
import socket
import struct
import sys
import time

args = dict(a.split("=", 1) for a in sys.argv[1:])
TRICKLE = int(args.get("trickle", "0"))
CHATTY = int(args.get("chatty", "0"))
SECONDS = float(args["seconds"])
RECONNECT = float(args["reconnect"]) if "reconnect" in args else None
NAME = args.get("name", "web")
SERVER = ("127.0.0.11", 53)


def query(qid):
    q = struct.pack(">HHHHHH", qid & 0xFFFF, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(label)]) + label.encode() for label in NAME.split(".") if label)
    q += b"\0" + struct.pack(">HH", 1, 1)
    return struct.pack(">H", len(q)) + q


sel = selectors.DefaultSelector()
start = time.monotonic()
stats = {
    kind: {"opened": 0, "connectFailed": 0, "closedByServer": 0, "lives": [], "openAtEnd": [], "answers": []}
    for kind in ("trickle", "chatty")
}


class Slot:
    def __init__(self, kind):
        self.kind = kind
        self.sock = None
        self.opened = 0.0
        self.connected = False
        self.next_send = 0.0
        self.next_open = 0.0
        self.sent = 0
        self.answers = 0
        self.buf = b""


def open_slot(s, now):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.connect_ex(SERVER)
    s.sock, s.opened, s.connected, s.sent, s.answers, s.buf = sock, now, False, 0, 0, b""
    stats[s.kind]["opened"] += 1
    sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, s)


def drop(s, now, by_server):
    sel.unregister(s.sock)
    s.sock.close()
    s.sock = None
    st = stats[s.kind]
    if by_server and not s.connected:
        st["connectFailed"] += 1
    elif by_server:
        st["closedByServer"] += 1
        st["lives"].append(round(now - s.opened, 2))
        if s.kind == "chatty":
            st["answers"].append(s.answers)
    s.next_open = now + RECONNECT if RECONNECT is not None else float("inf")


def send_due(s, now):
    if not s.connected or now < s.next_send:
        return
    try:
        if s.kind == "trickle":
            # A length of 512, then junk: one byte a second.
            data = b"\x02" if s.sent == 0 else (b"\x00" if s.sent == 1 else b"\x41")
        else:
            data = query(s.sent + 1)
        s.sock.send(data)
        s.sent += 1
    except (BlockingIOError, InterruptedError):
        pass
    except OSError:
        drop(s, now, True)
        return
    s.next_send = now + 1.0


slots = [Slot("trickle") for _ in range(TRICKLE)] + [Slot("chatty") for _ in range(CHATTY)]
for s in slots:
    open_slot(s, time.monotonic())

while True:
    now = time.monotonic()
    if now - start >= SECONDS:
        break
    for key, ev in sel.select(timeout=0.05):
        s = key.data
        if s.sock is None:
            continue
        now = time.monotonic()
        if not s.connected and ev & selectors.EVENT_WRITE:
            err = s.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                drop(s, now, True)  # counted as a failed connect: it never got established
                if RECONNECT is not None:
                    s.next_open = now + max(RECONNECT, 0.2)
                continue
            s.connected = True
            s.opened = now  # lives count from the established connection
            sel.modify(s.sock, selectors.EVENT_READ, s)
            s.next_send = now
            send_due(s, now)
            continue
        if ev & selectors.EVENT_READ:
            try:
                data = s.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                drop(s, now, True)
                continue
            s.buf += data
            while len(s.buf) >= 2 and len(s.buf) >= 2 + struct.unpack(">H", s.buf[:2])[0]:
                s.buf = s.buf[2 + struct.unpack(">H", s.buf[:2])[0]:]
                s.answers += 1
    now = time.monotonic()
    for s in slots:
        if s.sock is None:
            if now >= s.next_open and now - start < SECONDS:
                open_slot(s, now)
        else:
            send_due(s, now)

end = time.monotonic()
for s in slots:
    if s.sock is not None:
        if s.connected:
            stats[s.kind]["openAtEnd"].append(round(end - s.opened, 2))
        s.sock.close()
print(json.dumps(stats))
