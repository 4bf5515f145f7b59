#!/usr/bin/python3
"""s3-faults.py: a loopback HTTP proxy in front of s3rver that injects the
failures lib/s3 must ride out, for tests/integration/s3-client.sh.

  s3-faults.py UPSTREAM_PORT [complete-error]
                                  (prints "READY <port>" once listening)

Every third request is answered 503 SlowDown without reaching s3rver; the
first answer to each ranged GET of more than 1 MiB is cut after half of its
body (the connection closes), so the client must resume from where it
stopped.  With "complete-error", instead, every CompleteMultipartUpload
is answered 200 with an <Error> document (S3 may fail after it sent 200)
and nothing else is touched.  Requests and answers are otherwise passed through unchanged
(including Host, so SigV4 still verifies).  Loopback only."""
import http.client
import http.server
import signal
import sys
import threading

UPSTREAM = int(sys.argv[1])
MODE = sys.argv[2] if len(sys.argv) > 2 else "default"
LOCK = threading.Lock()
STATE = {"n": 0, "cut": set(), "slowdowns": 0, "cuts": 0}
HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with LOCK:
            STATE["n"] += 1
            n = STATE["n"]
        if MODE == "complete-error":
            if self.command == "POST" and "uploadId=" in self.path:
                err = (b'<?xml version="1.0" encoding="UTF-8"?>\n\n<Error><Code>InternalError</Code>'
                       b"<Message>We encountered an internal error. Please try again.</Message>"
                       b"<RequestId>COMPLETE%d</RequestId></Error>" % n)
                self.send_response(200)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(err)))
                self.end_headers()
                self.wfile.write(err)
                return
        elif n % 3 == 0:
            with LOCK:
                STATE["slowdowns"] += 1
            err = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
                   b"<Message>Please reduce your request rate.</Message>"
                   b"<RequestId>FAULT%d</RequestId></Error>" % n)
            self.send_response(503)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(err)))
            self.end_headers()
            self.wfile.write(err)
            return
        conn = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        conn.request(self.command, self.path, body=body if length else None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        rng = self.headers.get("Range")
        cut = False
        if self.command == "GET" and rng and resp.status == 206 and len(data) > 1 << 20:
            with LOCK:
                # Keyed by the range's end, which a resumed range keeps.
                key = (self.path, rng.rsplit("-", 1)[-1])
                if key not in STATE["cut"]:
                    STATE["cut"].add(key)
                    STATE["cuts"] += 1
                    cut = True
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                self.send_header(k, v)
        # A HEAD answer's length is the object's, not of the empty body.
        length = resp.getheader("Content-Length", "0") if self.command == "HEAD" else str(len(data))
        self.send_header("Content-Length", length)
        if cut:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        if cut:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("READY %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    finally:
        sys.stderr.write("faults: %d requests, %d slowdowns, %d cuts\n"
                         % (STATE["n"], STATE["slowdowns"], STATE["cuts"]))


if __name__ == "__main__":
    main()
