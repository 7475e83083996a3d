#!/usr/bin/env python3
"""Load an HTML report in headless Chromium and check that it renders cleanly.

Checks: no console errors/asserts, no uncaught exceptions, no error log entries
(e.g. a missing image), no failed loads, no request to anything but file:/data:
(the report must work offline), every <img> decoded (and at least --min-images
of them), and a full-page screenshot that is not blank.

    python3 tests/browser/check_report.py INDEX_HTML --screenshot OUT.png \
        [--width 1400] [--height 2000] [--timeout 60] [--min-images 1]

Exit 0: OK (one summary line on stdout). Exit 1: problems (one stderr line
each). Exit 2: usage error. Standard library only; speaks the Chrome DevTools
Protocol over a minimal WebSocket client built on `socket`.
"""
import argparse, base64, collections, ctypes, hashlib, json, os, pathlib, queue, shutil
import signal, socket, struct, subprocess, sys, tempfile, threading, time, zlib
from itertools import accumulate
from urllib.parse import urlsplit

PREFIX = "check_report: "
ALLOWED_SCHEMES = ("file", "data", "blob", "about")  # anything else needs the network
MIN_INK = 0.01  # a screenshot with fewer non-background pixels than this counts as blank


class Failure(Exception):
    """A fatal problem (timeout, browser crash); reported like any other problem."""


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self, what):
        left = self.end - time.monotonic()
        if left <= 0:
            raise Failure(f"timed out waiting for {what}")
        return left


# ---------------------------------------------------------------- WebSocket
class WebSocket:
    """Just enough RFC 6455 for CDP: text messages, fragmentation, ping, close."""

    def __init__(self, url, deadline):
        self.deadline = deadline
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port or 80),
                                             timeout=deadline.left("DevTools connection"))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
                           f"{key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self._recv_some("WebSocket handshake")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        if b" 101 " not in head.split(b"\r\n")[0] or accept.encode() not in head:
            raise Failure(f"WebSocket handshake rejected: {head.decode(errors='replace')[:200]}")

    def _recv_some(self, what):
        self.sock.settimeout(self.deadline.left(what))
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            raise Failure(f"timed out waiting for {what}") from None
        if not data:
            raise Failure(f"browser closed the DevTools connection during {what}")
        return data

    def _read(self, n, what):
        while len(self.buf) < n:
            self.buf += self._recv_some(what)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _send_frame(self, opcode, payload):
        n = len(payload)
        head = bytes([0x80 | opcode])  # FIN + opcode; client frames are always masked
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        self.sock.settimeout(self.deadline.left("sending to the browser"))
        self.sock.sendall(head + mask + _xor(payload, mask))

    def send(self, text):
        self._send_frame(0x1, text.encode())

    def recv(self, what):
        """Return the next complete text/binary message as str."""
        parts = []
        while True:
            b0, b1 = self._read(2, what)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2, what))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8, what))[0]
            mask = self._read(4, what) if b1 & 0x80 else None
            payload = self._read(n, what)
            if mask:
                payload = _xor(payload, mask)
            if opcode == 0x9:                       # ping -> pong, same payload
                self._send_frame(0xA, payload)
            elif opcode == 0x8:                     # close
                raise Failure(f"browser closed the DevTools connection during {what}")
            elif opcode in (0x0, 0x1, 0x2):         # continuation / text / binary
                parts.append(payload)
                if b0 & 0x80:                       # FIN: message complete
                    return b"".join(parts).decode("utf-8", errors="replace")
            # 0xA (pong) and reserved opcodes are ignored

    def close(self):
        try:
            self._send_frame(0x8, struct.pack(">H", 1000))
        except Exception:
            pass
        self.sock.close()


def _xor(data, mask):
    """XOR data with the repeating 4-byte mask, using big ints (fast for MBs)."""
    if not data:
        return b""
    key = (mask * (len(data) // 4 + 1))[:len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(len(data), "big")


# ---------------------------------------------------------------- CDP
class CDP:
    """Request/response over one browser WebSocket; events go to `on_event`."""

    def __init__(self, ws, on_event):
        self.ws, self.on_event, self.next_id = ws, on_event, 0

    def _pump(self, what):
        msg = json.loads(self.ws.recv(what))
        if "method" in msg:
            self.on_event(msg)
        return msg

    def call(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        while True:
            reply = self._pump(method)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise Failure(f"{method} failed: {reply['error'].get('message')}")
                return reply.get("result", {})

    def wait_until(self, done, what):
        while not done():
            self._pump(what)


# ---------------------------------------------------------------- PNG
def decode_png(data):
    """Decode an 8-bit RGB/RGBA non-interlaced PNG -> (width, height, channels, pixels).

    `pixels` is a bytes object of height*width*channels samples, row-major."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n  # length + type + body + CRC
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if ihdr is None:
        raise ValueError("PNG has no IHDR chunk")
    width, height, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG (bit depth {depth}, colour type {ctype}, "
                         f"interlace {interlace}); need 8-bit RGB/RGBA, not interlaced")
    bpp = 3 if ctype == 2 else 4
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    if len(raw) < height * (stride + 1):
        raise ValueError("PNG image data is truncated")
    m7, m8 = int("7f" * stride, 16), int("80" * stride, 16)
    out, prev = bytearray(), bytes(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        row = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ftype == 1:    # Sub: running sum per channel, mod 256
            for c in range(bpp):
                row[c::bpp] = bytes(map((255).__and__, accumulate(row[c::bpp])))
        elif ftype == 2:  # Up: bytewise (row + prev) mod 256 on big ints, no carries between bytes
            a, b = int.from_bytes(row, "big"), int.from_bytes(prev, "big")
            row = bytearray((((a & m7) + (b & m7)) ^ ((a ^ b) & m8)).to_bytes(stride, "big"))
        elif ftype in (3, 4):  # Average, Paeth: byte by byte, left-padded with one zero pixel
            r, q = bytearray(bpp) + row, bytes(bpp) + prev
            for i in range(bpp, bpp + stride):
                a, b, c = r[i - bpp], q[i], q[i - bpp]
                if ftype == 3:
                    r[i] = (r[i] + ((a + b) >> 1)) & 255
                else:
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    r[i] = (r[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            row = r[bpp:]
        elif ftype != 0:
            raise ValueError(f"bad PNG filter type {ftype} in row {y}")
        out += row
        prev = bytes(row)
    return width, height, bpp, bytes(out)


def non_background_fraction(width, height, bpp, pixels, tolerance=32):
    """Fraction of pixels differing from the most common colour by > tolerance in any channel."""
    npix = width * height
    if npix == 0:
        return 0.0
    step = max(1, npix // 200_000)  # the mode is estimated on a sample of pixels
    counts = collections.Counter(pixels[i * bpp:(i + 1) * bpp] for i in range(0, npix, step))
    background = counts.most_common(1)[0][0]
    differs = 0
    for c in range(bpp):  # per channel: map each sample to 0/1 with a table, OR the channels
        table = bytes(int(abs(v - background[c]) > tolerance) for v in range(256))
        differs |= int.from_bytes(pixels[c::bpp].translate(table), "big")
    return differs.bit_count() / npix


# ---------------------------------------------------------------- browser
def launch_chromium(exe, profile, deadline):
    """Start Chromium in its own process group; return (process, DevTools ws URL)."""
    args = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--no-default-browser-check", f"--user-data-dir={profile}",
            "--remote-debugging-port=0", "--disable-component-update", "--disable-sync",
            "--disable-background-networking", "--mute-audio", "--hide-scrollbars",
            # No DNS at all: a remote URL fails at once instead of hanging until a timeout.
            "--host-resolver-rules=MAP * ~NOTFOUND", "about:blank"]
    # Chromium always starts crashpad handlers (--disable-crash-reporter does not stop
    # them); they keep a database under $XDG_CONFIG_HOME: point that into the profile.
    env = dict(os.environ, XDG_CONFIG_HOME=os.path.join(profile, "config"),
               XDG_CACHE_HOME=os.path.join(profile, "cache"))
    try:  # Linux: orphaned descendants are re-parented to us, so we can reap them
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True, env=env)
    lines = queue.Queue()

    def drain():  # keep reading stderr so Chromium never blocks on a full pipe
        for raw in proc.stderr:
            lines.put(raw.decode(errors="replace").strip())
        lines.put(None)
    threading.Thread(target=drain, daemon=True).start()
    tail = collections.deque(maxlen=5)
    while True:
        try:
            line = lines.get(timeout=deadline.left("Chromium to start"))
        except queue.Empty:
            raise Failure("timed out waiting for Chromium to start") from None
        if line is None:
            raise Failure(f"Chromium exited with code {proc.wait()} before DevTools came up: "
                          + " | ".join(tail))
        if line.startswith("DevTools listening on "):
            return proc, line.split(" on ", 1)[1]
        tail.append(line)


def stop_chromium(proc):
    """Kill Chromium's process group, then any process parented to us by the subreaper
    flag (crashpad handlers setsid() out of the group), and reap them all."""
    if proc is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # browser, zygotes, renderers, GPU process
    except ProcessLookupError:
        pass
    proc.wait()
    end = time.monotonic() + 5
    while time.monotonic() < end:
        left = []
        for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:  # "pid (comm) state ppid pgrp ..."
                    ppid, pgrp = map(int, f.read().rsplit(b")", 1)[1].split()[1:3])
            except (OSError, ValueError):
                continue
            if pgrp == proc.pid or ppid == os.getpid():
                left.append(int(entry))
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
                while os.waitpid(-1, os.WNOHANG)[0]:
                    pass
            except (ProcessLookupError, ChildProcessError):
                pass
        time.sleep(0.02)


IMAGES_JS = """(async () => {
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(img => {
    if (img.loading === 'lazy') img.loading = 'eager';
    return img.complete ? null : new Promise(done => {
      img.addEventListener('load', done); img.addEventListener('error', done);
      setTimeout(done, 5000);
    });
  }));
  return imgs.map(i => ({src: i.currentSrc || i.src, complete: i.complete,
                         naturalWidth: i.naturalWidth}));
})()"""


def check_page(exe, index, args):
    """Load the page; return (list of problem lines, summary line or None)."""
    deadline = Deadline(args.timeout)
    problems, state, urls = {}, {"loaded": False, "console_errors": 0}, {}
    profile = tempfile.mkdtemp(prefix="check_report-")
    proc = ws = None

    def problem(text, key=None):  # one line per subject: a missing image fails 3 ways
        problems.setdefault(key or text, text)

    def on_event(msg):
        if msg.get("sessionId") != state.get("session"):
            return  # browser-level events are not about the page
        method, p = msg["method"], msg.get("params", {})
        if method == "Page.loadEventFired":
            state["loaded"] = True
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", a.get("type"))))
                            for a in p.get("args", []))
            problem(f"console.{p['type']}: {text}")
            state["console_errors"] += 1
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            desc = d.get("exception", {}).get("description") or d.get("text", "")
            problem(f"uncaught exception: {desc.splitlines()[0] if desc else '?'}"
                    f" ({d.get('url', '')}:{d.get('lineNumber', 0) + 1})")
        elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
            e = p["entry"]
            problem(f"{e.get('source', 'log')} error: {e.get('text')} "
                    f"{e.get('url', '')[:200]}".rstrip(), e.get("url"))
        elif method == "Network.requestWillBeSent":
            url = p["request"]["url"]
            urls[p["requestId"]] = url
            if url.split(":", 1)[0].lower() not in ALLOWED_SCHEMES:
                problem(f"page is not self-contained: request to {url[:200]}", url)
        elif method == "Network.loadingFailed":
            url = urls.get(p["requestId"], "?")
            problem(f"failed to load {url[:200]}: {p.get('errorText')} "
                    f"{p.get('blockedReason', '')}".rstrip(), url)

    try:
        proc, ws_url = launch_chromium(exe, profile, deadline)
        ws = WebSocket(ws_url, deadline)
        cdp = CDP(ws, on_event)
        target = cdp.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = state["session"] = cdp.call(
            "Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            cdp.call(f"{domain}.enable", session=session)
        cdp.call("Emulation.setDeviceMetricsOverride", {"width": args.width, "height": args.height,
                 "deviceScaleFactor": 1, "mobile": False}, session)
        nav = cdp.call("Page.navigate", {"url": index.as_uri()}, session)
        if nav.get("errorText"):
            raise Failure(f"navigation to {index.as_uri()} failed: {nav['errorText']}")
        cdp.wait_until(lambda: state["loaded"], "Page.loadEventFired")

        images = cdp.call("Runtime.evaluate", {"expression": IMAGES_JS, "returnByValue": True,
                          "awaitPromise": True}, session)
        if "exceptionDetails" in images:
            raise Failure(f"image check script failed: {images['exceptionDetails'].get('text')}")
        images = images["result"]["value"]
        for img in images:
            if not img["complete"] or img["naturalWidth"] <= 0:
                problem(f"image not loaded: {img['src'][:200]} (complete={img['complete']}, "
                        f"naturalWidth={img['naturalWidth']})", img["src"])
        if len(images) < args.min_images:
            problem(f"page has {len(images)} <img> elements, expected at least {args.min_images}")

        # Full page: clip to the whole content size, as Puppeteer's fullPage does.
        size = cdp.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": max(size["width"], 1),
                "height": max(size["height"], 1), "scale": 1}
        shot = cdp.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                        "clip": clip}, session)
        png = base64.b64decode(shot["data"])
        pathlib.Path(args.screenshot).write_bytes(png)
        width, height, bpp, pixels = decode_png(png)
        fraction = non_background_fraction(width, height, bpp, pixels)
        if fraction < MIN_INK:
            problem(f"screenshot looks blank: only {fraction:.2%} of pixels differ "
                    f"from the background colour ({args.screenshot})")
        return list(problems.values()), (
            f"{len(images)} images loaded, {state['console_errors']} console errors, "
            f"screenshot {width}x{height}, {fraction:.1%} non-background pixels -> {args.screenshot}")
    except (Failure, OSError, ValueError) as e:  # timeouts, crashes, a broken screenshot
        problem(str(e))
        return list(problems.values()), None
    finally:
        if ws:
            ws.close()
        stop_chromium(proc)
        shutil.rmtree(profile, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("index", help="the report's index.html")
    ap.add_argument("--screenshot", required=True, help="where to write the full-page PNG")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=2000)
    ap.add_argument("--timeout", type=float, default=60, help="seconds for the whole check")
    ap.add_argument("--min-images", type=int, default=1)
    args = ap.parse_args()

    index = pathlib.Path(args.index).resolve()
    if not index.is_file():
        print(f"{PREFIX}no such file: {args.index} (generate the report first)", file=sys.stderr)
        return 2
    if not pathlib.Path(args.screenshot).resolve().parent.is_dir():
        print(f"{PREFIX}no folder for --screenshot {args.screenshot} (create it first)",
              file=sys.stderr)
        return 2
    exe = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        print(f"{PREFIX}chromium not found: install it with apt-get install -y chromium "
              "(or set CHROMIUM=/path/to/chromium)", file=sys.stderr)
        return 2
    # Turn SIGTERM/SIGINT into SystemExit so the `finally` cleanup still kills Chromium.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(1))

    problems, summary = check_page(exe, index, args)
    if problems:
        for line in problems:
            print(PREFIX + line, file=sys.stderr)
        return 1
    print(f"{PREFIX}OK: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
