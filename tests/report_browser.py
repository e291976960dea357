"""Open a Snakemake HTML report in headless Chromium and show each of its figures, as a reader would.

`inspect_report(html, screenshot_dir)` starts Debian's `chromium` with the DevTools protocol on a pipe
(standard library only, no driver package), loads the report from its file, waits for the report's
app to render, then for every image result asks the app to display it (what clicking its eye button
does: `app.setView({content: "img", ...})`) and reads back the displayed `<img>`: whether it decoded
and its pixel size. It returns what the page showed and the JavaScript errors it raised, and saves
a PNG screenshot of the start page and of each figure view.

`chromium_reason()` installs chromium with apt-get when it is missing (root only) and returns why it
cannot run here (None when it can).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_reason() -> str | None:
    """Install chromium with apt-get when missing; return why it cannot be used (None when it can)."""
    if chromium_path():
        return None
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "chromium is not installed and installing it needs root"
    if shutil.which("apt-get") is None:
        return "chromium is not installed and apt-get is not available"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],
    ):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")
    return None if chromium_path() else "apt-get installed chromium but it is not on PATH"


class _Pipe:
    """The DevTools protocol over --remote-debugging-pipe: JSON messages ended by NUL bytes."""

    def __init__(self, write_fd: int, read_fd: int):
        self.write_fd, self.read_fd = write_fd, read_fd
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None, timeout: float = 30
    ) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.write_fd, json.dumps(msg).encode() + b"\0")
        end = time.monotonic() + timeout
        while True:
            reply = self._read(end)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def _read(self, end: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from chromium")
            ready, _, _ = select.select([self.read_fd], [], [], left)
            if ready:
                chunk = os.read(self.read_fd, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed its DevTools pipe")
                self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)


_SHOW_FIGURES = """
(async () => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  for (let i = 0; i < 100 && typeof app === 'undefined'; i++) await sleep(100);
  if (typeof app === 'undefined') return {error: 'the report app did not start'};
  const shown = {};
  for (const [path, entry] of Object.entries(results)) {
    if (!String(entry.mime_type).startsWith('image/')) continue;
    app.setView({content: 'img', contentPath: entry.data_uri, resultPath: path});
    let img = null;
    for (let i = 0; i < 100; i++) {
      img = document.querySelector('#app img[src="' + entry.data_uri.replace(/"/g, '\\\\"') + '"]');
      if (img && img.complete) break;
      await sleep(50);
    }
    shown[path] = img ? {complete: img.complete, width: img.naturalWidth, height: img.naturalHeight} : null;
  }
  return {shown};
})()
"""


def inspect_report(
    html: str | os.PathLike[str], screenshot_dir: str | os.PathLike[str] | None = None, timeout: float = 90
) -> dict[str, Any]:
    """Load the report in headless Chromium; display every image result; return what the browser saw.

    Returns ``{"title", "text", "results", "categories", "shown": {path: {complete, width, height}},
    "errors": [...], "screenshots": [...]}``.
    """
    exe = chromium_path()
    if exe is None:
        raise RuntimeError("chromium is not installed")
    html = Path(html).resolve()
    shots = Path(screenshot_dir) if screenshot_dir else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()

    def wire() -> None:  # in the child: the protocol wants fd 3 (commands in) and fd 4 (answers out)
        high_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)  # out of the way of 3 and 4 first
        high_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
        os.dup2(high_r, 3)  # dup2 leaves the copies inheritable
        os.dup2(high_w, 4)

    with tempfile.TemporaryDirectory(prefix="ecgdiff-chromium-") as profile:
        proc = subprocess.Popen(
            [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            preexec_fn=wire,
            close_fds=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        pipe = _Pipe(to_chrome_w, from_chrome_r)
        try:
            return _inspect(pipe, html, shots, timeout)
        finally:
            try:
                pipe.send("Browser.close", timeout=10)
            except Exception:  # noqa: BLE001 - closing is best effort; the process is ended below
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            os.close(to_chrome_w)
            os.close(from_chrome_r)


def _inspect(pipe: _Pipe, html: Path, shots: Path | None, timeout: float) -> dict[str, Any]:
    target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page.enable", "Runtime.enable"):
        pipe.send(domain, session=session)
    pipe.send("Page.navigate", {"url": html.as_uri()}, session=session, timeout=timeout)

    def evaluate(expr: str, wait: float = timeout) -> Any:
        res = pipe.send(
            "Runtime.evaluate",
            {"expression": expr, "awaitPromise": True, "returnByValue": True},
            session=session,
            timeout=wait,
        )
        if "exceptionDetails" in res:
            raise RuntimeError(f"page script failed: {res['exceptionDetails']}")
        return res["result"].get("value")

    end = time.monotonic() + timeout
    while evaluate("document.readyState") != "complete" or not evaluate("typeof app !== 'undefined'"):
        if time.monotonic() > end:
            raise TimeoutError(f"{html} did not finish loading in {timeout:.0f} s")
        time.sleep(0.2)
    time.sleep(0.5)
    screenshots = []

    def shot(name: str) -> None:
        if shots is None:
            return
        data = pipe.send("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
        path = shots / f"{name}.png"
        path.write_bytes(base64.b64decode(data))
        screenshots.append(str(path))

    shot("report-start")
    info = {
        "title": evaluate("document.title"),
        "text": evaluate("document.body.innerText"),
        "results": evaluate("Object.keys(results)"),
        "categories": evaluate("JSON.parse(JSON.stringify(categories))"),
    }
    seen = evaluate(_SHOW_FIGURES)
    if "error" in seen:
        raise RuntimeError(seen["error"])
    info["shown"] = seen["shown"]
    for i, path in enumerate(info["shown"]):
        evaluate(f"app.setView({{content: 'img', contentPath: results[{json.dumps(path)}].data_uri}}); 0")
        time.sleep(0.3)
        shot(f"figure-{i:02d}-{Path(path).stem}")
    info["errors"] = [e["params"] for e in pipe.events if e.get("method") == "Runtime.exceptionThrown"]
    info["screenshots"] = screenshots
    return info


def main(argv: list[str] | None = None) -> int:
    """`python tests/report_browser.py REPORT.html [SCREENSHOT_DIR]`: print what the browser showed."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    parser.add_argument("screenshots", nargs="?", default=None)
    args = parser.parse_args(argv)
    reason = chromium_reason()
    if reason:
        print(reason)
        return 2
    info = inspect_report(args.report, args.screenshots)
    for path in info["results"]:
        shown = info["shown"].get(path)
        what = (
            f"figure {shown['width']}x{shown['height']} px"
            if shown and shown["complete"]
            else ("figure NOT SHOWN" if path in info["shown"] else "table/file (download link)")
        )
        print(f"{path}: {what}")
    print(f"JavaScript errors: {len(info['errors'])}; screenshots: {', '.join(info['screenshots']) or 'none'}")
    bad = [p for p, s in info["shown"].items() if not (s and s["complete"] and s["width"] > 0)]
    return 1 if bad or info["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
