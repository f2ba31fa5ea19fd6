/**
 * The one redaction every URL or secret goes through before it reaches a log line, an error
 * message or JSON output. Redis URLs carry passwords, RPC URLs carry API keys in their path or
 * query (`…/v3/KEY`, `…?apikey=KEY`), and `Authorization` values are bearer tokens; all of them
 * end up in error messages from libraries (ioredis, viem) as readily as in our own lines.
 */
import { createHash } from "node:crypto";

/** What a hidden part is replaced with. */
export const REDACTED = "***";

// Anything scheme://… up to whitespace or a quote: the URLs inside a library's error message.
const URL_PATTERN = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi;
// Punctuation that ends a sentence around a URL, not the URL itself.
const TRAILING_PUNCTUATION = /[.,;:!?)\]}]+$/;
// A credential, not prose ("missing bearer token"): 8+ token characters, at least one of them
// a digit or a symbol.
const BEARER_PATTERN = /\b(bearer\s+)(?=[A-Za-z]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{8,}/gi;
// A Redis URL's path is its database number, which is safe and useful to see.
const KEEP_PATH_PROTOCOLS = new Set(["redis:", "rediss:"]);

/**
 * `text` with every URL's credentials, path and query hidden (a Redis URL keeps its database
 * number, a bare `http://host:port/` stays as it is) and every bearer token hidden. A URL
 * alone is text too: `redact("redis://:pw@host:6379/0")` is `redis://:***@host:6379/0`.
 */
export function redact(text: string): string {
  return text
    .replace(URL_PATTERN, (match) => {
      const trailing = TRAILING_PUNCTUATION.exec(match)?.[0] ?? "";
      return redactUrl(match.slice(0, match.length - trailing.length)) + trailing;
    })
    .replace(BEARER_PATTERN, `$1${REDACTED}`);
}

/** A short, stable name for a secret that says which one it is without saying what it is. */
export function fingerprint(secret: string): string {
  return `sha256:${createHash("sha256").update(secret).digest("hex").slice(0, 12)}`;
}

function redactUrl(raw: string): string {
  // A cluster URL names several hosts (redis://:pw@h1:7000,h2:7001/0), which URL cannot
  // parse: redact it as the URL of its first host, then put the other hosts (no secret) back.
  const hosts = /^([^/]*\/\/(?:[^@/?#]*@)?)([^/?#]*,[^/?#]*)(.*)$/.exec(raw);
  if (hosts) {
    const [first, ...others] = hosts[2]!.split(",");
    const single = redactUrl(`${hosts[1]}${first}${hosts[3]}`);
    return single.includes(first!)
      ? single.replace(first!, [first, ...others].join(","))
      : `${single} (and ${others.length} more hosts)`;
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `[unparsable URL ${REDACTED}]`;
  }
  // A lone user name is often the key itself (https://KEY@rpc.example); with a password it is
  // an account name (Redis ACL users) and stays.
  const auth = url.password ? `${url.username}:${REDACTED}@` : url.username ? `${REDACTED}@` : "";
  const keepPath =
    KEEP_PATH_PROTOCOLS.has(url.protocol) || url.pathname === "/" || url.pathname === "";
  // URL normalises "http://host" to the path "/"; print what was written.
  const wroteSlash = /^[^/?#]*\//.test(raw.slice(url.protocol.length + 2));
  const path = keepPath ? (wroteSlash ? url.pathname : "") : `/${REDACTED}`;
  const query = url.search ? `?${REDACTED}` : "";
  return `${url.protocol}//${auth}${url.host}${path}${query}`;
}
