"""Start the app fresh N times; each time open the page in Chromium and send a chat message at once.

What a new user does, and what once failed with "cannot import name 'AutoModelForCausalLM'" (the page-load
handlers imported transformers in other threads while the chat model loaded). Prints one line per start and
a summary; exits 1 if any start gave no reply or logged an ImportError.

    python scripts/first_chat_race.py --runs 50        # tiny models, built by tests/tiny_models.py
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_page(url: str, process: subprocess.Popen, limit: float = 120) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if process.poll() is not None:
            raise RuntimeError("app.py exited before its page answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"no page within {limit:.0f} s")


def one_start(browser, models_file: Path, log_dir: Path, number: int) -> tuple[bool, str]:
    """(replied without an ImportError, what happened) for one fresh start of the app."""
    port = free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
    log_path = log_dir / f"start-{number:02d}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--models", str(models_file), "--port", str(port), "--memory-budget", "none"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}/"
            started = wait_for_page(url, process)
            page = browser.new_page()
            try:
                page.goto(url)
                box = page.locator("#chat-message textarea")
                box.wait_for(timeout=60_000)
                box.fill("Hello! Who are you?")  # at once: the page-load handlers are still running
                box.press("Enter")
                bubble = page.locator("#chat-conversation .message-row.bot-row, #chat-conversation .bot")
                toast = page.locator(".toast-body")
                deadline = time.monotonic() + 120
                outcome = ""
                while time.monotonic() < deadline and not outcome:
                    if toast.count():
                        outcome = "error toast: " + toast.first.inner_text()[:200]
                    elif bubble.count() and bubble.last.inner_text().strip():
                        outcome = "reply"
                    else:
                        page.wait_for_timeout(100)
                outcome = outcome or "no reply within 120 s"
            finally:
                page.close()
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    logged = log_path.read_text()
    if "ImportError" in logged or "cannot import name" in logged:
        outcome += " + ImportError in the server log"
    return outcome == "reply", f"page in {started:.1f} s, {outcome}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--logs", type=Path, default=ROOT / "test-output" / "first-chat-race")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright
    from tiny_models import build_kit

    models_file = build_kit(ROOT / ".cache" / "tiny-models")
    args.logs.mkdir(parents=True, exist_ok=True)
    good = 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        for number in range(1, args.runs + 1):
            ok, what = one_start(browser, models_file, args.logs, number)
            good += ok
            print(f"start {number:2d}: {'ok ' if ok else 'BAD'} {what}", flush=True)
        browser.close()
    print(f"{good} of {args.runs} starts answered the first chat message with no ImportError")
    return 0 if good == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
