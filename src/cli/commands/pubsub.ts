/**
 * `umbra sub TOPIC` and `umbra pub TOPIC MESSAGE` (issue 13 item 5;
 * docs/pubsub.md): client commands against a running node's HTTP API.
 */
import { clientFromFlags } from '../config.ts'
import { printable, type ClientCommandFlags } from './client.ts'
import type { PubSubMessageInfo, PublishRequestOptions } from '../api-client.ts'

function showData (m: PubSubMessageInfo): string {
  if (m.encoding === 'base64') return `[${Buffer.from(m.data, 'base64').length} bytes, base64] ${m.data}`
  return printable(m.data)
}

/** One line of `umbra sub`: time, publisher (or `(anonymous)`), path, data. */
export function pubsubLine (m: PubSubMessageInfo): string {
  return `${new Date(m.timestamp).toISOString()}  ${m.topic}  from ${m.from ?? '(anonymous)'}  via ${m.via}  ${showData(m)}`
}

/**
 * `umbra sub TOPIC [--history SECONDS]`: subscribes the node, says so on
 * stderr (`umbra sub: subscribed to TOPIC; Ctrl-C stops`), and prints one
 * line per message on stdout (`--json`: the message object) until SIGINT or SIGTERM,
 * then unsubscribes unless the node was subscribed before. With
 * `--history`, the messages server nodes stored in the last SECONDS come
 * first.
 * @returns exit code 0 after SIGINT/SIGTERM
 * @throws ApiUnreachableError, ApiResponseError (400 `UMBRA_ERR_PUBSUB_INVALID_TOPIC`)
 */
export async function runSub (topic: string, flags: ClientCommandFlags & { history?: number }): Promise<number> {
  const api = await clientFromFlags(flags)
  const stop = new AbortController()
  const onSignal = (): void => { stop.abort() }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const seen = new Set<string>()
  // Once per id: a message may come both in the history listing and as an event.
  const print = (m: PubSubMessageInfo): void => {
    if (seen.has(m.id)) return
    seen.add(m.id)
    process.stdout.write((flags.json === true ? JSON.stringify(m) : pubsubLine(m)) + '\n')
  }
  try {
    const before = (await api.subscriptions()).topics.some((t) => t.topic === topic)
    // The event stream is requested before the subscription, so no message falls between them.
    const events = api.events({ signal: stop.signal })
    let next = events.next()
    const since = flags.history != null ? Date.now() - flags.history * 1000 : undefined
    await api.subscribe(topic, since != null ? { since } : {})
    process.stderr.write(`umbra sub: subscribed to ${printable(topic)}; Ctrl-C stops\n`)
    if (since != null) for (const m of (await api.topicMessages(topic, { since })).messages) print(m)
    for (;;) {
      const r = await next
      if (r.done === true) break
      const m = r.value.data as PubSubMessageInfo
      if (r.value.event === 'pubsub:message' && m.topic === topic) print(m)
      next = events.next()
    }
    if (!before) await api.unsubscribe(topic).catch(() => {})
    return 0
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/**
 * `umbra pub TOPIC MESSAGE [--base64] [--anonymous [--hops N]] [--pseudonym KEY]`:
 * publishes one message, signed by the node (or the pseudonym).
 * @throws ApiResponseError (413 `UMBRA_ERR_PUBSUB_MESSAGE_TOO_LARGE`, 501 `UMBRA_ERR_PUBSUB_UNSUPPORTED`)
 */
export async function runPub (topic: string, message: string, flags: ClientCommandFlags & { base64?: boolean, anonymous?: boolean, hops?: number, pseudonym?: string }): Promise<number> {
  const api = await clientFromFlags(flags)
  const options: PublishRequestOptions = {}
  if (flags.base64 === true) options.encoding = 'base64'
  if (flags.anonymous === true) options.anonymous = true
  if (flags.hops != null) options.hops = flags.hops
  if (flags.pseudonym != null) options.pseudonym = flags.pseudonym
  const res = await api.publish(topic, message, options)
  if (flags.json === true) process.stdout.write(JSON.stringify(res) + '\n')
  else process.stdout.write(`published ${res.id} on ${printable(res.topic)} to ${res.recipients} ${res.recipients === 1 ? 'peer' : 'peers'}\n`)
  return 0
}
