"""Screenshots of every shipped ruleset's HTML report: English, Chinese and as printed.

    python docs/screenshots.py [--out docs/screenshots] [RULESET ...]

Run by hand after a change to the report (with SOURCE_DATE_EPOCH set, the reports' generation
time is pinned and unchanged pages give the same pictures); writes RULESET.en.png, RULESET.zh.png and
RULESET.print.png (the first A4 page, printed with 15 mm margins) into --out. Needs
headless Chromium (`apt-get install chromium fonts-noto-cjk`). The browser is driven
through the DevTools protocol over a pipe (--remote-debugging-pipe), which needs nothing
but the standard library; the browser test of tests/test_reports.py uses the same class.
"""
from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MM = 96 / 25.4  # CSS pixels in a millimetre
A4 = (210.0, 297.0)  # mm
MARGIN = 15.0  # mm, as the report's @page rule says
PRINT_WIDTH = round((A4[0] - 2 * MARGIN) * MM)  # 680 px: the width a printed page lays out in


def chromium() -> str | None:
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


class Browser:
    """One headless Chromium with one page, driven by DevTools protocol messages: JSON
    terminated by a NUL byte, read by the browser on fd 3 and written on fd 4."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_browser, self._write = os.pipe()
        self._read, from_browser = os.pipe()

        def wire() -> None:  # in the child, before exec: the two pipes become fds 3 and 4
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser, from_browser)]  # neither lands on 3 or 4 first
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.process = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-pipe",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire, pass_fds=(3, 4))
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._id = 0
        targets = self.send("Target.getTargets")["targetInfos"]
        page = next(t["targetId"] for t in targets if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", targetId=page, flatten=True)["sessionId"]
        self.send("Page.enable", session=True)

    def send(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._next()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def _next(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._read, 1 << 16)
            if not chunk:
                raise RuntimeError("the browser closed its pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def open(self, url: str, width: int, height: int = 900, media: str = "screen") -> None:
        """Load a page laid out `width` CSS pixels wide, in screen or print media."""
        self.send("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        self.send("Emulation.setEmulatedMedia", session=True, media=media)
        self.send("Page.navigate", session=True, url=url)
        while not (self._next().get("method") == "Page.loadEventFired"):
            pass

    def evaluate(self, script: str) -> Any:
        result = self.send("Runtime.evaluate", session=True, expression=script, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def screenshot(self, path: Path, width: int, height: int, scale: float = 0.6) -> None:
        """The top of the page, `width` x `height` CSS pixels, scaled down to keep the file small."""
        shot = self.send("Page.captureScreenshot", session=True, format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": width, "height": height, "scale": scale})
        path.write_bytes(base64.b64decode(shot["data"]))

    def pdf(self) -> bytes:
        """The page printed as the report's @page rule says (A4, 15 mm margins)."""
        done = self.send("Page.printToPDF", session=True, preferCSSPageSize=True, printBackground=True)
        return base64.b64decode(done["data"])

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (RuntimeError, OSError):
            pass
        self.process.wait(timeout=60)
        os.close(self._read)
        os.close(self._write)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def report(ruleset: Path, lang: str, out: Path) -> Path:
    """The HTML report of a ruleset on its sample data, made by the command line."""
    page = out / f"{ruleset.stem}.{lang}.html"
    done = subprocess.run([sys.executable, "-m", "engine", "run", str(ruleset), "--format", "html", "--lang", lang,
                           "--out", str(page)], cwd=ROOT, capture_output=True, text=True)
    if done.returncode not in (0, 1):  # 1: a rule at level fail failed, still a report
        raise SystemExit(f"{ruleset.name}: {done.stderr}")
    return page


def shoot(rulesets: list[Path], out: Path, binary: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as work, Browser(binary, Path(work) / "profile") as browser:
        for ruleset in rulesets:
            for lang in ("en", "zh"):
                page = report(ruleset, lang, Path(work))
                browser.open(page.as_uri(), 1000)
                written.append(out / f"{ruleset.stem}.{lang}.png")
                browser.screenshot(written[-1], 1000, 1300)
            # the first printed page: print media, laid out as wide as A4 within its margins
            browser.open(report(ruleset, "en", Path(work)).as_uri(), PRINT_WIDTH, media="print")
            written.append(out / f"{ruleset.stem}.print.png")
            browser.screenshot(written[-1], PRINT_WIDTH, round((A4[1] - 2 * MARGIN) * MM), scale=0.8)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rulesets", nargs="*", help="ruleset names (default: every shipped ruleset)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    binary = chromium()
    if binary is None:
        print("headless Chromium is needed: apt-get install chromium fonts-noto-cjk", file=sys.stderr)
        return 2
    shipped = sorted(p for p in (ROOT / "rulesets").glob("*.yaml") if not p.name.endswith(".tests.yaml"))
    chosen = [p for p in shipped if not args.rulesets or p.stem in args.rulesets]
    for path in shoot(chosen, args.out, binary):
        print(path.relative_to(args.out.parent) if args.out.parent in path.parents else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
