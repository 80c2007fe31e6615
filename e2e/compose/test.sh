#!/usr/bin/env bash
# test.sh [URL]: checks a running compose rig (make compose-up) through Envoy:
# the rate-limited route answers 429 after three requests with the
# x-ratelimit-* headers, and a backend 503 on /override comes back as the
# policy's 502 with its own body. URL defaults to the golang profile's
# http://localhost:10000 (the dynamic-module profile is on :10001).
set -uo pipefail
url=${1:-http://localhost:10000}
fails=0 passes=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() { # check NAME WANT GOT
  if [ "$2" == "$3" ]; then passes=$((passes + 1)); echo "ok   $1: $3"
  else fails=$((fails + 1)); echo "FAIL $1: want $2, got $3"; fi
}

# request PATH: prints the status and leaves headers/body in $tmp.
request() {
  curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -H 'x-client: compose-test' "$url$1"
}
header() { grep -i "^$1:" "$tmp/headers" | head -n1 | cut -d' ' -f2- | tr -d '\r'; }

for i in $(seq 30); do # Envoy and the backend may still be starting
  [ "$(request /override)" == "200" ] && break
  sleep 1
done

# The rule has no clientSelectors: every client shares the route's bucket of
# three a minute, so run this on a freshly started rig (or a minute later).
for i in 1 2 3; do
  check "limited request $i" 200 "$(request /limited)"
  check "limited request $i x-ratelimit-limit" 3 "$(header x-ratelimit-limit | cut -d, -f1)"
done
check "limited request 4" 429 "$(request /limited)"
check "limited request 4 x-ratelimit-remaining" 0 "$(header x-ratelimit-remaining)"

check "override status" 502 "$(request '/override?status=503')"
check "override content-type" text/plain "$(header content-type)"
check "override body" "echo is resting, try again later" "$(cat "$tmp/body")"
check "override passes other statuses" 200 "$(request '/override?status=200')"

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
