/**
 * Constants of the dashboard (issue 12, item 2): the web page a node serves
 * at `/` on its HTTP API port.
 */

/**
 * Content-Security-Policy of every dashboard response (issue 12: "strict
 * Content-Security-Policy"). Scripts, styles, images and fetches only from
 * the node's own origin; no inline script or style, no `eval`, no plugins,
 * no frames, no form submission anywhere (the login form is handled by
 * script, so a page whose script failed cannot send the token in a URL),
 * no `<base>` rewriting.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join('; ')

/** URL prefix of the dashboard's static files (the page itself is at `/`). */
export const ASSET_PREFIX = '/assets/'

/** The page served at `/`, a file of the static directory. */
export const INDEX_FILE = 'index.html'

/**
 * Media types of the files the dashboard serves, by extension. A file of the
 * static directory with another extension is not served.
 */
export const MEDIA_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml'
}

/** Largest static file loaded, bytes: the dashboard's files are a few KiB; anything bigger is not ours. */
export const MAX_ASSET_BYTES = 256 * 1024

/** Host names that always mean this machine (RFC 6761 section 6.3: `localhost` and `*.localhost`). */
export const LOCALHOST_NAME = 'localhost'
