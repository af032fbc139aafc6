// Debian's Chromium for the browser tests, headless, with nothing reaching out of the machine.

import { chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

/** Launches the system Chromium (never a downloaded browser). */
export function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
