#!/bin/sh
# Debian's chromium for the xiangqi web page's end-to-end test (test/xiangqi-player/e2e.test.ts,
# driven by playwright-core; the test skips when /usr/bin/chromium is absent).
set -e
apt-get update
apt-get install -y chromium
