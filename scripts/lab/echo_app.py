# An HTTP app for the mesh lab's pods: answers every GET with the client address it saw (what source-IP preservation
# is about) and logs one line per request. Usage: python3 echo_app.py PORT NAME
import http.server, sys
port, name = int(sys.argv[1]), sys.argv[2]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"hello from {name}; you are {self.client_address[0]}:{self.client_address[1]}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *args):
        print(f"{name} app: client {self.client_address[0]}:{self.client_address[1]} {fmt % args}", flush=True)
print(f"{name} app: listening on :{port}", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
