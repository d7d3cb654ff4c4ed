// Debian's Chromium, headless, as the browser tests start it.
import { chromium } from 'playwright-core';

/** Launches Chromium (`$CHROMIUM`, default /usr/bin/chromium). */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    // Without the background-networking flags Chromium keeps calling Google's hosts, which this
    // machine's closed network refuses; --no-sandbox because CI runs as root.
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
