#!/usr/bin/env bash
# Re-fetches the dashboard's vendored browser libraries from the npm registry at the pinned
# versions into assets/dashboard/vendor/<package>@<version>/ and checks them against SHA256SUMS.
# Run from anywhere; review the diff (and README.md) after.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vendor="$here/../dashboard/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent graphql-ws@6.4.2 >/dev/null
mkdir graphql-ws && tar xzf graphql-ws-6.4.2.tgz -C graphql-ws
mkdir -p "$vendor/graphql-ws@6.4.2"
cp graphql-ws/package/umd/graphql-ws.min.js graphql-ws/package/LICENSE.md "$vendor/graphql-ws@6.4.2/"
cd "$vendor" && sha256sum -c "$here/SHA256SUMS"
