"""Open a page in headless Chromium and report what happened.

Used by the report tests: console messages, uncaught exceptions, failed loads, a JS probe of
the DOM, and a screenshot — over the DevTools protocol when ``websockets`` is installed, else
with ``--dump-dom``/``--screenshot`` and the console read from Chromium's log. Needs the Debian
``chromium`` package.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
)


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageReport:
    console: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    log_entries: list[dict[str, Any]] = field(default_factory=list)
    failed_requests: list[dict[str, Any]] = field(default_factory=list)
    probe: Any = None

    @property
    def errors(self) -> list[str]:
        out = [json.dumps(e)[:300] for e in self.exceptions]
        out += [json.dumps(c)[:300] for c in self.console if c.get("type") in ("error", "assert")]
        out += [json.dumps(e)[:300] for e in self.log_entries if e.get("level") == "error"]
        out += [json.dumps(e)[:300] for e in self.failed_requests]
        return out


class _Session:
    def __init__(self, ws: Any, session_id: str | None = None) -> None:
        self.ws = ws
        self.session_id = session_id
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> Any:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session_id:
            msg["sessionId"] = self.session_id
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while True:
            raw = self.ws.recv(timeout=max(0.1, deadline - time.monotonic()))
            data = json.loads(raw)
            if data.get("id") == self.next_id:
                if "error" in data:
                    raise RuntimeError(f"{method}: {data['error']}")
                return data.get("result", {})
            self.events.append(data)

    def wait_event(self, method: str, timeout: float = 30) -> dict[str, Any]:
        for i, e in enumerate(self.events):
            if e.get("method") == method:
                return self.events.pop(i)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if data.get("method") == method:
                return data
            self.events.append(data)
        raise TimeoutError(method)

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                data = self.ws.recv(timeout=max(0.05, deadline - time.monotonic()))
            except TimeoutError:
                return
            self.events.append(json.loads(data))


def open_page(html: Path, probe_js: str, screenshot: Path | None = None) -> PageReport:
    """Load ``html`` (file://), run ``probe_js`` (its value returned), optionally screenshot."""
    from websockets.sync.client import connect

    binary = chromium_binary()
    if binary is None:
        raise RuntimeError("chromium not installed")
    profile = Path(tempfile.mkdtemp(prefix="mrdtrack-chromium-"))
    proc = subprocess.Popen(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        with connect(f"ws://127.0.0.1:{port}{path}", max_size=2**28) as ws:
            browser = _Session(ws)
            target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            sid = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
                "sessionId"
            ]
            page = _Session(ws, sid)
            page.events = browser.events
            for domain in ("Runtime", "Log", "Page", "Network"):
                page.send(f"{domain}.enable")
            page.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1280, "height": 1600, "deviceScaleFactor": 1, "mobile": False},
            )
            page.send("Page.navigate", {"url": html.resolve().as_uri()})
            page.wait_event("Page.loadEventFired", timeout=60)
            page.drain(0.5)
            probe = page.send(
                "Runtime.evaluate",
                {"expression": probe_js, "returnByValue": True, "awaitPromise": True},
            )
            report = PageReport(probe=probe.get("result", {}).get("value"))
            if screenshot is not None:
                shot = page.send(
                    "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False}
                )
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                screenshot.write_bytes(base64.b64decode(shot["data"]))
            for e in page.events:
                m, p = e.get("method"), e.get("params", {})
                if m == "Runtime.consoleAPICalled":
                    report.console.append(
                        {"type": p.get("type"), "args": [a.get("value") for a in p.get("args", [])]}
                    )
                elif m == "Runtime.exceptionThrown":
                    report.exceptions.append(p.get("exceptionDetails", {}))
                elif m == "Log.entryAdded":
                    entry = p.get("entry", {})
                    report.log_entries.append(
                        {
                            "level": entry.get("level"),
                            "text": entry.get("text"),
                            "source": entry.get("source"),
                        }
                    )
                elif m == "Network.loadingFailed":
                    report.failed_requests.append(
                        {"error": p.get("errorText"), "blocked": p.get("blockedReason")}
                    )
            # the browser may close the socket before it answers
            with contextlib.suppress(Exception):
                browser.send("Browser.close", timeout=5)
        return report
    finally:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)


PROBE_JS = """
(() => {
  const imgs = Array.from(document.images);
  return {
    n_images: imgs.length,
    broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt),
    external: imgs.filter(i => !i.src.startsWith('data:')).map(i => i.src.slice(0, 80)),
    n_scripts: document.querySelectorAll('script').length,
    n_sections: document.querySelectorAll('main > section').length,
    xss: window.__mrdtrack_xss === undefined ? null : window.__mrdtrack_xss,
    text: document.body.innerText,
    title: document.title,
  };
})()
"""


class _DomProbe(HTMLParser):
    """The PROBE_JS facts, read from a DOM dumped by ``chromium --dump-dom``."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.n_scripts = 0
        self.n_sections = 0
        self.depth_main = 0
        self.title = ""
        self._in_title = False
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "img":
            self.images.append(a)
        elif tag == "script":
            self.n_scripts += 1
        elif tag == "main":
            self.depth_main += 1
        elif tag == "section" and self.depth_main:
            self.n_sections += 1
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        self.text.append(data)


def _image_ok(src: str) -> bool:
    """A data: URI image that decodes (SVG parses as XML, PNG has its signature)."""
    if not src.startswith("data:image/") or ";base64," not in src:
        return False
    payload = base64.b64decode(src.split(",", 1)[1])
    if src.startswith("data:image/svg+xml"):
        try:
            ElementTree.fromstring(payload)
        except ElementTree.ParseError:
            return False
        return True
    return payload[:8] == b"\x89PNG\r\n\x1a\n"


def open_page_cli(html: Path, screenshot: Path | None = None) -> PageReport:
    """Fallback without ``websockets``: ``--dump-dom`` + ``--screenshot``, console from the log.

    Console messages and page errors are read from Chromium's stderr log
    (``--enable-logging=stderr``: lines ``CONSOLE(...)``).
    """
    binary = chromium_binary()
    if binary is None:
        raise RuntimeError("chromium not installed")
    flags = [f for f in CHROMIUM_FLAGS if not f.startswith("--remote-debugging")]
    report = PageReport()
    with tempfile.TemporaryDirectory(prefix="mrdtrack-chromium-") as profile:
        common = [binary, *flags, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0"]
        dom = subprocess.run(
            [*common, "--dump-dom", html.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [
                    *common,
                    f"--screenshot={screenshot}",
                    "--window-size=1280,1600",
                    html.resolve().as_uri(),
                ],
                capture_output=True,
                timeout=120,
            )
    for line in dom.stderr.splitlines():
        if "CONSOLE" in line or "Uncaught" in line:
            report.console.append({"type": "error", "args": [line[:300]]})
    p = _DomProbe()
    p.feed(dom.stdout)
    report.probe = {
        "n_images": len(p.images),
        "broken": [i.get("alt", "") for i in p.images if not _image_ok(i.get("src", ""))],
        "external": [i["src"][:80] for i in p.images if not i.get("src", "").startswith("data:")],
        "n_scripts": p.n_scripts,
        "n_sections": p.n_sections,
        "xss": None,  # no script element and a CSP forbidding inline script: nothing can run
        "text": "".join(p.text),
        "title": p.title,
    }
    return report


def inspect_page(html: Path, screenshot: Path | None = None) -> PageReport:
    """DevTools protocol when ``websockets`` is installed, else the command-line fallback."""
    try:
        import websockets.sync.client  # noqa: F401
    except ModuleNotFoundError:
        return open_page_cli(html, screenshot)
    return open_page(html, PROBE_JS, screenshot)
