"""Slow HTTPS clients for tests, COUNT connections to 127.0.0.1:PORT:
  headers  send a request line, then one header byte a second, never ending
           the headers (slowloris);
  body     send a POST's headers and half its body, then nothing more, and
           read the answer.
STATUS gets "opened=N failed=M" once every connection is attempted; after
SECONDS (or once every body answer is in) it gets
"opened=N failed=M alive=K answers=CODE,... answer_ms=MAX".
usage: slowloris.py headers|body PORT COUNT SECONDS STATUS"""
import os
import socket
import ssl
import sys
import time

mode, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seconds, status = float(sys.argv[4]), sys.argv[5]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if mode == "headers":
    first = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
else:
    first = (b"POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             b"Content-Length: 2000\r\n\r\n" + b"x" * 1000)
conns, failed, answers, answer_ms = [], 0, [], 0
start = time.monotonic()
for _ in range(count):
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=3)
        s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        s.sendall(first)
        conns.append(s)
    except OSError:
        failed += 1


opened = len(conns)


def report(extra=""):
    with open(status + ".tmp", "w") as f:
        f.write("opened=%d failed=%d%s\n" % (opened, failed, extra))
    os.replace(status + ".tmp", status)


report()
end = start + seconds
if mode == "headers":
    while time.monotonic() < end and conns:
        time.sleep(1)
        alive = []
        for s in conns:
            try:
                s.sendall(b"X")
                alive.append(s)
            except OSError:
                s.close()
        conns = alive
else:
    for s in conns:
        s.settimeout(max(0.1, end - time.monotonic()))
        try:
            line = s.recv(64).split(b"\r\n")[0].decode(errors="replace")
            answers.append(line.split(" ")[1] if line.startswith("HTTP/") else "none")
        except OSError:
            answers.append("none")
        answer_ms = int((time.monotonic() - start) * 1000)
    conns = []
report(" alive=%d answers=%s answer_ms=%d" % (len(conns), ",".join(answers), answer_ms))
