// Package web holds the agent's web UI: the built assets of web/ (Vite +
// TypeScript), embedded from dist/ and served at / by internal/api. The
// assets are built with `npm run build` in web/ and committed, so a plain
// `go build` needs no Node.js; CI rebuilds them and checks dist/ is current.
package web
