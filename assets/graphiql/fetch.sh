#!/usr/bin/env bash
# Re-fetches the vendored GraphiQL playground assets from the npm registry at the pinned versions
# and copies the browser builds here. Run from anywhere; review the diff (and README.md) after.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent graphiql@3.9.0 react@18.3.1 react-dom@18.3.1 >/dev/null
for pkg in graphiql-3.9.0 react-18.3.1 react-dom-18.3.1; do
    mkdir "$pkg" && tar xzf "$pkg.tgz" -C "$pkg"
done
cp graphiql-3.9.0/package/graphiql.min.js graphiql-3.9.0/package/graphiql.min.css "$here/"
cp graphiql-3.9.0/package/LICENSE "$here/LICENSE.graphiql"
cp react-18.3.1/package/umd/react.production.min.js "$here/"
cp react-dom-18.3.1/package/umd/react-dom.production.min.js "$here/"
cp react-18.3.1/package/LICENSE "$here/LICENSE.react"
cd "$here" && sha256sum -c SHA256SUMS
