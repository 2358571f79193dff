/**
 * A strict parser of the Prometheus text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/ "Text format
 * details"), for the tests only: no parser package is installed
 * (`parse-prometheus-text-format` and the like are not in node_modules) and
 * the tests must not install one. It throws on anything the format does not
 * allow, rather than skipping it:
 * - a line that is not `# HELP`, `# TYPE`, another comment, blank, or a sample;
 * - a bad metric or label name, an unquoted or badly escaped label value, a
 *   duplicate label, a value that Go's strconv.ParseFloat would refuse;
 * - `# TYPE` of an unknown type, twice for one name, or after its samples;
 *   `# HELP` twice for one name;
 * - samples of one family not contiguous (another family in between);
 * - a duplicate sample (same name and labels);
 * - a counter below 0; a histogram without `+Inf`, with buckets that
 *   decrease, or whose `+Inf` bucket differs from its `_count`;
 * - a text that does not end in a newline.
 */

/** One sample line. */
export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** One metric family: its `# TYPE`, `# HELP` and samples. */
export interface Family {
  name: string
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'
  help?: string
  samples: Sample[]
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
/** What Go's strconv.ParseFloat (Prometheus' own parser) accepts: decimals, and NaN, Inf, Infinity in any case (prom-client writes `Nan`). */
const FLOAT = /^[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|inf|infinity)$|^nan$/i
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

function parseFloatStrict (text: string, where: string): number {
  if (!FLOAT.test(text)) throw new Error(`${where}: ${JSON.stringify(text)} is not a float`)
  if (/^nan$/i.test(text)) return Number.NaN
  if (/^[+]?inf(inity)?$/i.test(text)) return Number.POSITIVE_INFINITY
  if (/^-inf(inity)?$/i.test(text)) return Number.NEGATIVE_INFINITY
  return Number(text)
}

/** Reads `{a="x",b="y"}` from `line` at `i` (at `{`); returns the labels and the index after `}`. */
function parseLabels (line: string, start: number, where: string): { labels: Record<string, string>, end: number } {
  const labels: Record<string, string> = {}
  let i = start + 1
  for (;;) {
    if (line[i] === '}') return { labels, end: i + 1 }
    const eq = line.indexOf('=', i)
    if (eq < 0) throw new Error(`${where}: label without =`)
    const name = line.slice(i, eq)
    if (!LABEL_NAME.test(name)) throw new Error(`${where}: bad label name ${JSON.stringify(name)}`)
    if (name in labels) throw new Error(`${where}: duplicate label ${name}`)
    if (line[eq + 1] !== '"') throw new Error(`${where}: label ${name} value not quoted`)
    let value = ''
    let j = eq + 2
    for (;;) {
      const c = line[j]
      if (c === undefined) throw new Error(`${where}: unterminated label value`)
      if (c === '"') break
      if (c === '\\') {
        const e = line[j + 1]
        if (e === '\\') value += '\\'
        else if (e === '"') value += '"'
        else if (e === 'n') value += '\n'
        else throw new Error(`${where}: bad escape \\${String(e)} in a label value`)
        j += 2
        continue
      }
      value += c
      j++
    }
    labels[name] = value
    i = j + 1
    if (line[i] === ',') i++
    else if (line[i] !== '}') throw new Error(`${where}: expected , or } after label ${name}`)
  }
}

/** The family a sample name belongs to, given the declared types (histogram `_bucket`/`_sum`/`_count`, summary `_sum`/`_count`). */
function familyOf (sample: string, types: Map<string, string>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sample.endsWith(suffix)) continue
    const base = sample.slice(0, -suffix.length)
    const t = types.get(base)
    if (t === 'histogram' || (t === 'summary' && suffix !== '_bucket')) return base
  }
  return sample
}

/**
 * Parses a whole exposition.
 * @returns the families by name, in order of appearance
 * @throws Error naming the line and what is wrong
 */
export function parsePrometheusText (text: string): Map<string, Family> {
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('the text does not end with a newline')
  const families = new Map<string, Family>()
  const types = new Map<string, string>()
  const finished = new Set<string>()
  const seen = new Set<string>()
  let current: string | undefined
  const family = (name: string): Family => {
    let f = families.get(name)
    if (f == null) {
      f = { name, type: (types.get(name) ?? 'untyped') as Family['type'], samples: [] }
      families.set(name, f)
    }
    return f
  }
  const enter = (name: string, where: string): void => {
    if (current === name) return
    if (finished.has(name)) throw new Error(`${where}: family ${name} appears again after another family`)
    if (current !== undefined) finished.add(current)
    current = name
  }
  const lines = text.split('\n')
  lines.pop()
  lines.forEach((line, index) => {
    const where = `line ${index + 1}`
    if (line.trim() === '') return
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line)
      if (m == null) return
      const [, kind, name = '', rest = ''] = m
      if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name ${JSON.stringify(name)}`)
      enter(name, where)
      const f = family(name)
      if (kind === 'HELP') {
        if (f.help !== undefined) throw new Error(`${where}: second HELP for ${name}`)
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) throw new Error(`${where}: bad escape in HELP of ${name}`)
        f.help = rest.replace(/\\(\\|n)/g, (_s, e: string) => e === 'n' ? '\n' : '\\')
      } else {
        if (!TYPES.has(rest.trim())) throw new Error(`${where}: unknown type ${JSON.stringify(rest)}`)
        if (types.has(name)) throw new Error(`${where}: second TYPE for ${name}`)
        if (f.samples.length > 0) throw new Error(`${where}: TYPE for ${name} after its samples`)
        types.set(name, rest.trim())
        f.type = rest.trim() as Family['type']
      }
      return
    }
    const nameEnd = line.search(/[{\s]/)
    if (nameEnd <= 0) throw new Error(`${where}: not a sample: ${JSON.stringify(line)}`)
    const name = line.slice(0, nameEnd)
    if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name ${JSON.stringify(name)}`)
    let labels: Record<string, string> = {}
    let i = nameEnd
    if (line[i] === '{') ({ labels, end: i } = parseLabels(line, i, where))
    const fields = line.slice(i).trim().split(/\s+/)
    if (line[i] !== ' ' && line[i] !== '\t') throw new Error(`${where}: no space before the value`)
    if (fields.length < 1 || fields.length > 2 || fields[0] === '') throw new Error(`${where}: expected a value and an optional timestamp`)
    const value = parseFloatStrict(fields[0] as string, where)
    if (fields[1] !== undefined && !/^-?\d+$/.test(fields[1])) throw new Error(`${where}: bad timestamp ${fields[1]}`)
    const base = familyOf(name, types)
    enter(base, where)
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`
    if (seen.has(key)) throw new Error(`${where}: duplicate sample ${name} ${JSON.stringify(labels)}`)
    seen.add(key)
    const f = family(base)
    if (f.type === 'counter' && !(value >= 0)) throw new Error(`${where}: counter ${name} is ${value}`)
    f.samples.push({ name, labels, value })
  })
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f)
  return families
}

/** Buckets cumulative per label set, a `+Inf` bucket equal to `_count`. */
function checkHistogram (f: Family): void {
  const series = new Map<string, { buckets: Array<[number, number]>, count?: number }>()
  for (const s of f.samples) {
    const { le, ...rest } = s.labels
    const key = JSON.stringify(Object.entries(rest).sort())
    const entry = series.get(key) ?? { buckets: [] }
    series.set(key, entry)
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`${f.name}: bucket without le`)
      entry.buckets.push([parseFloatStrict(le, `${f.name} le`), s.value])
    } else if (s.name === `${f.name}_count`) {
      entry.count = s.value
    }
  }
  for (const [key, { buckets, count }] of series) {
    const sorted = [...buckets].sort((a, b) => a[0] - b[0])
    for (let i = 1; i < sorted.length; i++) {
      if ((sorted[i]?.[1] ?? 0) < (sorted[i - 1]?.[1] ?? 0)) throw new Error(`${f.name}${key}: buckets decrease`)
    }
    const inf = sorted.at(-1)
    if (inf?.[0] !== Number.POSITIVE_INFINITY) throw new Error(`${f.name}${key}: no +Inf bucket`)
    if (inf[1] !== count) throw new Error(`${f.name}${key}: +Inf bucket ${inf[1]} is not _count ${String(count)}`)
  }
}

/** The value of the one sample of `family` whose labels include `labels`; throws when there is none or more than one. */
export function valueOf (families: Map<string, Family>, name: string, labels: Record<string, string> = {}, family = name): number {
  const f = families.get(family)
  if (f == null) throw new Error(`no family ${family}`)
  const hits = f.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  if (hits.length !== 1) throw new Error(`${hits.length} samples of ${name} ${JSON.stringify(labels)}`)
  return (hits[0] as Sample).value
}
