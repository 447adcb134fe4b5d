"""The web app as a newcomer meets it: ``assistant serve`` on the bundled demo in an empty folder,
the first answer's time in a real headless Chromium, and screenshots of the main pages at a
laptop (1280 px) and a phone (390 px) width into docs/web/.

    python bench/web_pages.py              # prints the times; writes docs/web/*.png
    python bench/web_pages.py --no-shots   # times only

Needs the distribution's chromium and chromedriver (tests/browser.py).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from browser import chromium, wait_until  # noqa: E402

QUESTION = "Which paper extends the context window of LLaMA with shifted sparse attention?"
TOPIC = "parameter-efficient fine-tuning of large language models"
LAPTOP = (1280, 860)
PHONE = (390, 844)


def start_server(folder: Path) -> tuple[subprocess.Popen[str], str]:
    """`assistant serve` in an empty folder: it builds the demo into ./index, then listens."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "OPENAI_"))}
    command = [str(Path(sys.executable).parent / "assistant"), "serve", "--port", "0"]
    server = subprocess.Popen(command, cwd=folder, env=env, stderr=subprocess.PIPE, text=True)
    assert server.stderr is not None
    for line in server.stderr:
        print(line.rstrip(), file=sys.stderr)
        found = re.search(r"at (http://\S+/)", line)
        if found:
            return server, found.group(1).rstrip("/")
    raise SystemExit("assistant serve did not start")


def ask(driver: Any, url: str, question: str) -> float:
    """Ask on the page; the seconds from the click to the checked answer on screen."""
    driver.get(url + "/")
    driver.find_element("css selector", "#question").send_keys(question)
    started = time.monotonic()
    driver.find_element("css selector", "#ask-button").click()
    wait_until(lambda: driver.find_elements("css selector", ".turn.done .answer a.cite"), 60)
    return time.monotonic() - started


def size(driver: Any, width: int, height: int) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def shots(driver: Any, url: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, (width, height) in (("laptop", LAPTOP), ("phone", PHONE)):
        size(driver, width, height)
        ask(driver, url, QUESTION)
        driver.find_elements("css selector", ".answer a.cite")[0].click()
        wait_until(lambda: driver.find_elements("css selector", "#evidence:not([hidden])"), 5)
        driver.save_screenshot(str(out / f"ask-{name}.png"))
        driver.get(url + "/papers?q=low-rank+adaptation")
        for button in driver.find_elements("css selector", "#results .basket-add")[:2]:
            button.click()
        driver.save_screenshot(str(out / f"papers-{name}.png"))
        driver.get(url + "/related")
        driver.find_element("css selector", "#topic").send_keys(TOPIC)
        driver.find_element("css selector", "#draft-button").click()
        wait_until(lambda: driver.find_elements("css selector", "#draft:not([hidden])"), 60)
        driver.save_screenshot(str(out / f"related-{name}.png"))
        driver.get(url + "/index")
        driver.save_screenshot(str(out / f"index-{name}.png"))
        print(f"screenshots at {width} px in {out}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-shots", action="store_true", help="Only time the answers.")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "web")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="web-pages-"))
    server, url = start_server(folder)
    try:
        with chromium(folder) as driver:
            driver.get(url + "/")  # the page itself, before any question
            first = ask(driver, url, QUESTION)
            again = ask(driver, url, "What is LongLoRA?")
            print(f"first answer {first:.2f} s, next answer {again:.2f} s (page click to answer)")
            if not args.no_shots:
                shots(driver, url, args.out)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
