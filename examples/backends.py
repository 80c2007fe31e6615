#!/usr/bin/env python3
"""Three demo backends for examples/ on 127.0.0.1:18081-18083 (stdlib only).

Each answers every method with JSON naming its port, the path and the
request headers it received, so you can see which backend served a request
and what Envoy added. A path starting with /items/fail answers 500 (to see
responseOverride); a path with a .../status/NNN segment answers NNN (e.g.
/orders/status/503, to see retries).
Stops on Ctrl-C.
"""
import http.server
import json
import sys
import threading

PORTS = (18081, 18082, 18083)


def handler(port):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def answer(self):
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            code = 200
            parts = self.path.split("?")[0].split("/")
            if self.path.startswith("/items/fail"):
                code = 500
            elif "status" in parts[:-1]:
                nnn = parts[parts.index("status") + 1]
                code = int(nnn) if nnn.isdigit() and 200 <= int(nnn) <= 599 else 400
            body = json.dumps({"port": port, "path": self.path, "headers": dict(self.headers)}).encode()
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

        def log_message(self, fmt, *args):
            sys.stderr.write("backend %d: %s\n" % (port, fmt % args))

    return Handler


def main():
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", p), handler(p)) for p in PORTS]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("backends on 127.0.0.1:%s (Ctrl-C stops)" % ",".join(map(str, PORTS)), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
