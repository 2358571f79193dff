/**
 * The `Host` check against DNS rebinding (issue 12, item 2): which `Host`
 * header values reach the API. A rebinding attack's requests carry the
 * attacker's DNS name, so every case below that names a DNS name other than
 * the bound host or localhost must be refused.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { isAllowedHost, parseHostHeader } from '../../src/web/index.ts'

const LOOPBACK = { host: '127.0.0.1', port: 7450 }

describe('Host header check', () => {
  it('accepts IP literals, localhost names and the bound host on the API port', () => {
    for (const host of ['127.0.0.1:7450', 'localhost:7450', 'LOCALHOST:7450', 'localhost.:7450', 'app.localhost:7450', '[::1]:7450', '192.168.1.20:7450', '[fe80::1]:7450']) {
      assert.equal(isAllowedHost(host, LOOPBACK), true, host)
    }
    assert.equal(isAllowedHost('umbra.lan:7450', { host: 'umbra.lan', port: 7450 }), true)
    assert.equal(isAllowedHost('[::1]:7450', { host: '[::1]', port: 7450 }), true)
    // No port means 80.
    assert.equal(isAllowedHost('localhost', { host: '127.0.0.1', port: 80 }), true)
    // HTTP/1.0 without Host: no browser sends that.
    assert.equal(isAllowedHost(undefined, LOOPBACK), true)
  })

  it('refuses other DNS names, other ports and malformed values', () => {
    for (const host of [
      'evil.example:7450', 'evil.example', '127.0.0.1.nip.io:7450', 'localhost.evil.example:7450', 'umbra.lan:7450',
      '127.0.0.1:7451', '127.0.0.1', 'localhost:80', '', ':7450', 'a:b:c', '[::1', '[::1]x', '[not-ip]:7450',
      '127.0.0.1:99999', '127.0.0.1:-1', 'exa mple:7450', 'evil.example:7450@127.0.0.1'
    ]) {
      assert.equal(isAllowedHost(host, LOOPBACK), false, host)
    }
  })

  it('parses name, [v6] and port', () => {
    assert.deepEqual(parseHostHeader('Example.COM.:8080'), { hostname: 'example.com', port: 8080 })
    assert.deepEqual(parseHostHeader('[::1]'), { hostname: '::1', port: undefined })
    assert.equal(parseHostHeader('[::1]:'), undefined)
    assert.equal(parseHostHeader('host:'), undefined)
  })
})
