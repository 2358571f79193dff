/**
 * The strict Prometheus text parser the metrics tests validate `/metrics`
 * with (test/metrics/prom-text.ts) refuses what the format does not allow,
 * so a malformed exposition cannot pass those tests.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Counter, Histogram, Registry } from 'prom-client'
import { parsePrometheusText, valueOf } from './prom-text.ts'

describe('strict Prometheus text parser', () => {
  it('reads prom-client\'s own output: types, help, escaped labels, histogram series', async () => {
    const registry = new Registry()
    const c = new Counter({ name: 'x_total', help: 'a "help" with \\ and\nnewline', labelNames: ['l'], registers: [registry] })
    c.inc({ l: 'a "quoted" \\ value\nnext' }, 2)
    const h = new Histogram({ name: 'h_seconds', help: 'h', buckets: [0.1, 1], registers: [registry] })
    h.observe(0.5)
    h.observe(5)
    const fams = parsePrometheusText(await registry.metrics())
    assert.equal(fams.get('x_total')?.type, 'counter')
    assert.equal(fams.get('x_total')?.help, 'a "help" with \\ and\nnewline')
    assert.equal(valueOf(fams, 'x_total', { l: 'a "quoted" \\ value\nnext' }), 2)
    assert.equal(valueOf(fams, 'h_seconds_bucket', { le: '1' }, 'h_seconds'), 1)
    assert.equal(valueOf(fams, 'h_seconds_bucket', { le: '+Inf' }, 'h_seconds'), 2)
    assert.equal(valueOf(fams, 'h_seconds_count', {}, 'h_seconds'), 2)
  })

  it('refuses malformed expositions, each with the reason', () => {
    const bad: Array<[string, RegExp]> = [
      ['x 1', /newline/],
      ['x{a="1"} one\n', /not a float/],
      ['9x 1\n', /bad metric name/],
      ['x{a=1} 1\n', /not quoted/],
      ['x{a="1",a="2"} 1\n', /duplicate label/],
      ['x{a="\\t"} 1\n', /bad escape/],
      ['x 1\nx 2\n', /duplicate sample/],
      ['# TYPE x counter\nx -1\n', /counter x is -1/],
      ['# TYPE x gauge\n# TYPE x gauge\nx 1\n', /second TYPE/],
      ['x 1\n# TYPE x gauge\n', /after its samples/],
      ['# TYPE x widget\n', /unknown type/],
      ['x 1\ny 1\nx{a="b"} 2\n', /appears again/],
      ['# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n', /buckets decrease/],
      ['# TYPE h histogram\nh_bucket{le="1"} 1\nh_count 1\n', /no \+Inf bucket/],
      ['# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_count 3\n', /is not _count/],
      ['x{a="1"}1\n', /no space/]
    ]
    for (const [text, reason] of bad) assert.throws(() => parsePrometheusText(text), reason, JSON.stringify(text))
  })
})
