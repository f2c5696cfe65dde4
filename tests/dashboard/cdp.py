"""tests/dashboard/cdp.py: headless Chromium driven over the Chrome DevTools
Protocol, with Python's standard library only.

Browser() starts Debian's chromium (or $MCTX_CHROMIUM) headless, in its own
process group, with a fresh profile folder, no background networking and the
DevTools port on loopback (port 0: Chromium picks one and writes it to
DevToolsActivePort). Page is a WebSocket client (RFC 6455, the few frame types
CDP uses) on the first tab: calls (call), events (kept in .events), script
evaluation, waits for a condition in the page with a bound, screenshots, file
inputs, and the console: every console.error / console.assert, uncaught
exception and browser log entry of level error is kept in .console_errors.

find_chromium() answers None when there is no browser; the tests then skip.
Nothing here depends on timing: every wait is for a condition, bounded by a
limit only a broken page reaches.
"""

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
         "--disable-default-apps", "--disable-extensions", "--disable-domain-reliability",
         "--disable-client-side-phishing-detection", "--disable-features=Translate,MediaRouter,OptimizationHints",
         "--metrics-recording-only", "--mute-audio", "--hide-scrollbars",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0"]


def find_chromium():
    """The browser's path, or None."""
    for cand in (os.environ.get("MCTX_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                 shutil.which("chromium-browser"), shutil.which("google-chrome")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


class CDPError(Exception):
    pass


class WebSocket:
    """A client WebSocket on a plain socket: text frames out (masked), text,
    continuation, ping and close frames in."""

    def __init__(self, host, port, path, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key))
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise CDPError("the DevTools socket closed during the handshake")
            head += chunk
        head, _, self.buf = head.partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise CDPError("no WebSocket upgrade: %r" % head[:200])

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise CDPError("the DevTools socket closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, text):
        data = text.encode()
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            head = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(head + mask + masked)

    def _send_control(self, opcode, payload=b""):
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(struct.pack("!BB", 0x80 | opcode, 0x80 | len(payload)) + mask + masked)

    def recv(self):
        """The next whole text message."""
        parts = []
        while True:
            b0, b1 = self._read(2)
            opcode, fin = b0 & 0x0F, b0 & 0x80
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            if b1 & 0x80:
                mask = self._read(4)
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self._read(n)))
            else:
                payload = self._read(n)
            if opcode == 0x9:
                self._send_control(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            if opcode == 0x8:
                raise CDPError("the DevTools socket was closed by the browser")
            parts.append(payload)
            if fin:
                return b"".join(parts).decode("utf-8", "replace")

    def close(self):
        try:
            self._send_control(0x8, struct.pack("!H", 1000))
        except OSError:
            pass
        self.sock.close()


class Page:
    """One tab, over its WebSocket."""

    def __init__(self, port, ws_path, timeout):
        self.timeout = timeout
        self.ws = WebSocket("127.0.0.1", port, ws_path, timeout)
        self.next_id = 0
        self.events = []
        self.console_errors = []
        self.console_all = []
        for domain in ("Page", "Runtime", "Log"):
            self.call(domain + ".enable")

    def _note(self, msg):
        m, p = msg.get("method"), msg.get("params", {})
        if m == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            self.console_all.append((p.get("type"), text))
            if p.get("type") in ("error", "assert"):
                self.console_errors.append("console.%s: %s" % (p.get("type"), text))
        elif m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            exc = d.get("exception", {}).get("description") or d.get("text")
            self.console_errors.append("uncaught: %s (%s:%s)" % (exc, d.get("url"), d.get("lineNumber")))
        elif m == "Log.entryAdded":
            e = p.get("entry", {})
            self.console_all.append((e.get("level"), e.get("text")))
            if e.get("level") == "error":
                self.console_errors.append("log[%s]: %s %s" % (e.get("source"), e.get("text"), e.get("url", "")))
        self.events.append(msg)

    def call(self, method, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise CDPError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            if "method" in msg:
                self._note(msg)

    def pump(self):
        """Reads the events that arrived (a no-op call)."""
        self.call("Runtime.evaluate", expression="0")

    def eval(self, expression):
        """The value of a JavaScript expression (promises awaited)."""
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise CDPError("evaluation failed: %s" % (d.get("exception", {}).get("description") or d.get("text")))
        return r.get("result", {}).get("value")

    def wait_for(self, expression, what, timeout=None):
        """Polls until the expression is truthy; returns its value."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            v = self.eval("(() => { try { return %s; } catch (e) { return null; } })()" % expression)
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError("the page never reached: %s (%s); console errors: %s"
                                     % (what, expression, self.console_errors))
            time.sleep(0.05)

    def navigate(self, url):
        self.call("Page.navigate", url=url)

    def screenshot(self, path, width=1400):
        """A PNG of the whole page (up to 6000 px tall) at `width` CSS pixels."""
        h = self.eval("Math.min(6000, Math.max(document.documentElement.scrollHeight, window.innerHeight))")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=int(h), deviceScaleFactor=1, mobile=False)
        self.eval("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
        data = self.call("Page.captureScreenshot", format="png")["data"]
        self.call("Emulation.clearDeviceMetricsOverride")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def set_viewport(self, width, height):
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def set_file(self, selector, path):
        """Chooses a file in an <input type=file> (fires its change event)."""
        root = self.call("DOM.getDocument", depth=1)["root"]["nodeId"]
        node = self.call("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        if not node:
            raise CDPError("no element %s" % selector)
        self.call("DOM.setFileInputFiles", files=[os.path.abspath(path)], nodeId=node)

    def mouse(self, kind, x, y, **extra):
        self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, **extra)

    def close(self):
        self.ws.close()


class Browser:
    """A headless Chromium; stop() ends it and removes its profile."""

    def __init__(self, binary, timeout=60.0):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="mctx-dash-chromium-")
        self.log = open(os.path.join(self.profile, "chromium.log"), "wb")
        self.proc = subprocess.Popen([binary] + FLAGS + ["--user-data-dir=" + self.profile,
                                                         "--window-size=1400,1000", "about:blank"],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                     start_new_session=True)
        self.port = None
        deadline = time.monotonic() + timeout
        active = os.path.join(self.profile, "DevToolsActivePort")
        while self.port is None:
            if os.path.exists(active):
                with open(active) as f:
                    lines = f.read().split("\n")
                if len(lines) >= 2 and lines[0].strip().isdigit():
                    self.port = int(lines[0])
                    break
            if self.proc.poll() is not None:
                raise CDPError("chromium exited (%s) before opening its DevTools port; log: %s"
                               % (self.proc.returncode, self.log_tail()))
            if time.monotonic() > deadline:
                self.stop()
                raise CDPError("chromium opened no DevTools port within %ss" % timeout)
            time.sleep(0.05)

    def log_tail(self):
        try:
            with open(os.path.join(self.profile, "chromium.log"), "rb") as f:
                return f.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def page(self):
        """The first tab."""
        deadline = time.monotonic() + self.timeout
        while True:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                c.request("GET", "/json/list")
                targets = json.loads(c.getresponse().read())
            finally:
                c.close()
            pages = [t for t in targets if t.get("type") == "page" and t.get("webSocketDebuggerUrl")]
            if pages:
                url = pages[0]["webSocketDebuggerUrl"]
                path = url.split(str(self.port), 1)[1]
                return Page(self.port, path, self.timeout)
            if time.monotonic() > deadline:
                raise CDPError("chromium shows no page target")
            time.sleep(0.05)

    def stop(self):
        """Ends the browser (its process group: the process this object
        started and the helpers it spawned) and removes the profile."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # helpers that outlived the main process
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)
