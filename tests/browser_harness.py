"""Real headless Chromium for browser tests: Debian's ``chromium`` and ``chromium-driver``
(installed by ``make system-deps``), driven by Selenium pointed at /usr/bin/chromedriver.
Nothing downloads a browser or a driver (Selenium Manager is kept offline)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def missing() -> str | None:
    absent = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    return f"{', '.join(absent)} not installed: run `make system-deps` (apt-get install chromium chromium-driver)" if absent else None


def start_chromium(width: int = 1400, height: int = 1000):
    os.environ["SE_OFFLINE"] = "true"  # never let Selenium Manager fetch anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="claimflow-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", f"--window-size={width},{height}",
                f"--user-data-dir={profile}", "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=opts)
    driver.set_page_load_timeout(90)
    driver.claimflow_profile = profile
    return driver


def stop_chromium(driver) -> None:
    profile = getattr(driver, "claimflow_profile", None)
    driver.quit()
    if profile:
        shutil.rmtree(profile, ignore_errors=True)
