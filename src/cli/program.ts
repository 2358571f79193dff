import { readFileSync } from 'node:fs'
import { Argument, Command, CommanderError, Option, type OptionValues } from 'commander'
import { COMPLETION_SHELLS, type CompletionShell } from './completion.ts'
import { UmbraError } from '../errors.ts'
import { DEFAULT_API_HOST, DEFAULT_API_PORT } from '../api/constants.ts'
import { DEFAULT_STUN_PORT } from '../nat/constants.ts'
import {
  DEMO_DEFAULT_NODES,
  DEMO_MIN_NODES,
  ENV_API_TOKEN,
  ENV_API_URL,
  ENV_MIXNET_PRESET,
  EXIT_FAILURE,
  EXIT_USAGE,
  MAX_LOCAL_NODES,
  MIXNET_PRESETS,
  TESTNET_DEFAULT_NODES
} from './constants.ts'
import { bootstrapUrlCollector, integerIn, ipCollector, multiaddrCollector, parseApiAddress, parseHostPort, parseLinkPort, parseStunPort, parseWsUrl, stunServerCollector } from './options.ts'
import { HYBRID_STRATEGIES, PUBSUB_MODES } from '../pubsub/hybrid-modes.ts'

/** The package's version from its package.json (`../../` from `src/cli`, `../../../` from `dist/src/cli`). */
function packageVersion (): string {
  for (const path of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { name?: unknown, version?: unknown }
      if (pkg.name === 'umbra' && typeof pkg.version === 'string') return pkg.version
    } catch {
      // not there: try the next place
    }
  }
  return 'unknown'
}

/**
 * Builds the `umbra` program. Actions set `exitCode` on the returned holder;
 * heavy modules (libp2p, the API server) are imported only by the commands
 * that need them, so client commands start fast.
 */
export function createProgram (result: { exitCode: number }): Command {
  const program = new Command('umbra')
    .description('Anonymous peer-to-peer networking: run a node, or talk to a running one through its HTTP API.')
    .version(packageVersion(), '-V, --version')
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureHelp({ sortSubcommands: false, showGlobalOptions: true })
  addGlobalOptions(program, result)

  program.command('start')
    .description('run a node and its HTTP API until SIGINT or SIGTERM')
    .option('--listen <multiaddr...>', 'addresses to listen on (default: 127.0.0.1, TCP and WebSockets, free ports)', multiaddrCollector(false))
    .option('--bootstrap <multiaddr...>', 'nodes to join through, each ending in /p2p/<PeerId>', multiaddrCollector(true))
    .option('--bootstrap-url <url...>', 'bootstrap endpoints to join through: dial the live peers they list, then register there (docs/bootstrap.md)', bootstrapUrlCollector)
    .option('--bootstrap-api <host:port>', 'serve the public bootstrap endpoints (GET /peers, POST /register, …; no token) here; off by default', parseHostPort)
    .addOption(new Option('--role <role>', 'server: stores DHT records for others and relays as a mix node and gateway; client: does neither').choices(['server', 'client']))
    .addOption(new Option('--client', 'the same as --role client').conflicts('role'))
    .addOption(new Option('--mixnet-preset <preset>', 'traffic-analysis protection: none (no delays, no cover traffic), balanced, strong (default: balanced)').choices(MIXNET_PRESETS).env(ENV_MIXNET_PRESET))
    .option('--mixnet-threads <n>', 'worker threads that process mix packets (default: one per core)', integerIn(1, 64))
    .option('--mixnet-epoch <ms>', 'onion key epoch in ms, at least 10000; every node of one network must use the same (default: 3600000, hourly)', integerIn(10_000, 2 ** 31 - 1))
    .addOption(new Option('--pubsub-mode <mode>', 'pub/sub: p2p (GossipSub only), hybrid (GossipSub and a central server, bridged), central (central server only); a central server sees who publishes what (default: p2p)').choices(PUBSUB_MODES))
    .addOption(new Option('--pubsub-strategy <strategy>', 'hybrid mode: where publishes go (default: prefer-p2p)').choices(HYBRID_STRATEGIES))
    .option('--pubsub-central <url>', 'the central pub/sub server of hybrid and central modes, ws://HOST:PORT (umbra central)', parseWsUrl)
    .option('--mixnet-rate-scale <n>', 'multiply the preset\'s cover and payload packet rates by n, 1 to 100 (tests; default: 1)', integerIn(1, 100))
    .option('--mix-link-port <port|off>', 'TCP port where a server node takes packet links (mix packets on connections of their own, docs/mixnet.md "Packet links"); 0 picks a free port, off takes none (default: 0; clients ignore it)', parseLinkPort)
    .option('--stun-port <port|off>', `UDP port of the STUN server a server node runs for WebRTC hole punching; 0 picks a free port, off runs none (default: ${DEFAULT_STUN_PORT}; clients ignore it)`, parseStunPort)
    .option('--stun-server <host:port...>', `STUN servers a client's WebRTC hole punching asks; only these are ever contacted (default: each bootstrap host, port ${DEFAULT_STUN_PORT})`, stunServerCollector)
    .option('--stun-host <ip...>', 'IP addresses the STUN server binds, IPv4 or IPv6; :: binds both families (default: the IPs of --listen)', ipCollector)
    .option('--no-upnp', 'do not ask the local router for a UPnP / NAT-PMP port mapping (client nodes)')
    .option('--announce-private', 'announce private and loopback addresses too (default: only when every --listen address is a private or loopback IP; clients announce relayed addresses only)')
    .option('--passphrase-file <file>', 'read the key files\' passphrase from FILE (else $UMBRA_PASSPHRASE, else a prompt when they are encrypted); on a first start it encrypts the new ones (docs/auth.md)')
    .option('--import-key <file>', 'use the secp256k1 wallet key in FILE (WIF or 64 hex digits) as the node identity: PeerId 16Uiu2HA…, client role only; shows its Bitcoin and Evrmore addresses in umbra id (docs/wallet-keys.md, with its privacy cost)')
    .option('--pubsub-store-messages <n>', 'pub/sub messages a server keeps per topic for late subscribers, 1 to 100000 (default: 100)', integerIn(1, 100_000))
    .option('--pubsub-store-ttl <ms>', 'how long a server keeps a pub/sub message, 1000 to 86400000 ms (default: 300000, 5 minutes)', integerIn(1000, 86_400_000))
    .addOption(new Option('--no-pubsub-ip-penalty', 'no GossipSub IP co-location penalty (testnets: every node on one IP)').hideHelp())
    .addOption(new Option('--stop-on-stdin-close').hideHelp())
    .addOption(new Option('--no-exempt-loopback', 'apply the inbound connection limits to this machine too (tests that attack over loopback)').hideHelp())
    .addHelpText('after', `\n--api HOST:PORT is where the HTTP API listens (default: ${DEFAULT_API_HOST}:${DEFAULT_API_PORT}; port 0 picks a free port); --json prints the ready line as one JSON object.\nThe data directory is --data-dir, else $UMBRA_HOME, else ~/.umbra.\n$${ENV_MIXNET_PRESET} sets the mixnet preset when --mixnet-preset is not given; every node of one network should use the same.`)
    .action(async (_flags: unknown, cmd: Command) => {
      const { runStart } = await import('./commands/start.ts')
      result.exitCode = await runStart(flagsOf(cmd))
    })

  addClientCommand(program, 'id', 'show the node\'s PeerId, key, role, addresses and NAT reachability')
    .action(async (_flags: unknown, cmd: Command) => {
      const { runId } = await import('./commands/client.ts')
      result.exitCode = await runId(flagsOf(cmd))
    })

  addClientCommand(program, 'peers', 'list connected peers')
    .action(async (_flags: unknown, cmd: Command) => {
      const { runPeers } = await import('./commands/client.ts')
      result.exitCode = await runPeers(flagsOf(cmd))
    })

  addClientCommand(program, 'punch', 'make the node\'s connection to a peer direct (WebRTC through both NATs) and show the path it got')
    .argument('<peer>', 'the peer: PeerId (12D3Koo…), key (key_…) or a name (alice, alice.key_…) with a peer record')
    .option('--addr <multiaddr...>', 'addresses of the peer to try besides those the node knows, e.g. its /p2p-circuit/webrtc address (at most 32)', multiaddrCollector(false))
    .option('--timeout <ms>', 'give up on the direct upgrade after this many ms, 100 to 60000 (default: 10000)', integerIn(100, 60_000))
    .addHelpText('after', '\nExits 0 when a direct or a relayed path exists (the line says which), 1 when the peer cannot be reached at all.')
    .action(async (peer: string, _flags: unknown, cmd: Command) => {
      const { runPunch } = await import('./commands/client.ts')
      result.exitCode = await runPunch(peer, flagsOf(cmd))
    })

  addClientCommand(program, 'put', 'sign and store a text value in the DHT')
    .argument('<key>', 'record key, 1 to 256 bytes')
    .argument('<value>', 'text value, up to 64 KiB')
    .option('--ttl <seconds>', 'lifetime of the record (default: 24 h)', integerIn(1, 48 * 3600))
    .action(async (key: string, value: string, _flags: unknown, cmd: Command) => {
      const { runPut } = await import('./commands/client.ts')
      result.exitCode = await runPut(key, value, flagsOf(cmd))
    })

  addClientCommand(program, 'get', 'print the value stored under a DHT key (exit 1 when there is none)')
    .argument('<key>', 'record key')
    .option('--fresh', 'skip the node\'s own copy and ask the network')
    .action(async (key: string, _flags: unknown, cmd: Command) => {
      const { runGet } = await import('./commands/client.ts')
      result.exitCode = await runGet(key, flagsOf(cmd))
    })

  addClientCommand(program, 'advertise', 'advertise this node (or, with --pseudonym, one of its pseudonyms) under a namespace in the DHT')
    .argument('<namespace>', 'service name, 1 to 256 bytes, e.g. chat/lobby')
    .option('--pseudonym <key>', 'advertise this pseudonym of the node instead of its PeerId')
    .option('--stop', 'stop advertising')
    .action(async (namespace: string, _flags: unknown, cmd: Command) => {
      const { runAdvertise } = await import('./commands/discovery.ts')
      result.exitCode = await runAdvertise(namespace, flagsOf(cmd))
    })

  addClientCommand(program, 'discover', 'list who advertises a namespace: PeerIds with addresses, or pseudonyms with --anonymous (exit 1 when nobody)')
    .argument('<namespace>', 'service name')
    .option('--anonymous', 'list the pseudonyms of the anonymous set')
    .option('--limit <n>', 'most results, 1 to 100 (default: 20)', integerIn(1, 100))
    .action(async (namespace: string, _flags: unknown, cmd: Command) => {
      const { runDiscover } = await import('./commands/discovery.ts')
      result.exitCode = await runDiscover(namespace, flagsOf(cmd))
    })

  addClientCommand(program, 'lookup', 'show a node\'s peer record from the registry: role, addresses others can dial, last seen')
    .argument('<peer>', 'PeerId (12D3Koo…) or key (key_…)')
    .option('--fresh', 'ask the network even when the node has a fresh copy')
    .action(async (peer: string, _flags: unknown, cmd: Command) => {
      const { runLookup } = await import('./commands/client.ts')
      result.exitCode = await runLookup(peer, flagsOf(cmd))
    })

  addClientCommand(program, 'send', 'send an end-to-end encrypted message to a peer, or anonymously to a pseudonym')
    .argument('<to>', 'recipient PeerId (12D3Koo…) or key (key_…); with --anonymous, a pseudonym (key_…); or a name (alice, alice.key_…): its peer record, with --anonymous its pseudonym record')
    .argument('<message>', 'text, up to 1 MiB')
    .option('--anonymous', 'send through the mix network: the recipient learns nothing about this node')
    .option('--hops <n>', 'mix hops before the recipient\'s gateway, 1 to 8 (default: the node\'s, 3; needs --anonymous)', integerIn(1, 8))
    .addOption(new Option('--wait <what>', 'stored: until the gateway stored it; delivered: until the recipient acknowledged it (default: stored; needs --anonymous)').choices(['stored', 'delivered']))
    .option('--reply-surbs <n>', 'how many times the recipient can reply, 0 to 8 (default: 2; needs --anonymous)', integerIn(0, 8))
    .action(async (to: string, message: string, _flags: unknown, cmd: Command) => {
      const { runSend } = await import('./commands/client.ts')
      result.exitCode = await runSend(to, message, flagsOf(cmd))
    })

  addClientCommand(program, 'sub', 'subscribe to a topic and print its messages until Ctrl-C (docs/pubsub.md)')
    .argument('<topic>', 'the topic, 1 to 256 bytes')
    .option('--history <seconds>', 'first print what server nodes stored in the last SECONDS, 1 to 3600', integerIn(1, 3600))
    .action(async (topic: string, _flags: unknown, cmd: Command) => {
      const { runSub } = await import('./commands/pubsub.ts')
      result.exitCode = await runSub(topic, flagsOf(cmd))
    })

  addClientCommand(program, 'pub', 'publish a message on a topic, signed by the node (docs/pubsub.md)')
    .argument('<topic>', 'the topic, 1 to 256 bytes')
    .argument('<message>', 'text (or base64 with --base64), up to 1 MiB')
    .option('--base64', 'MESSAGE is base64 of the bytes to publish')
    .option('--anonymous', 'publish through the mix network: subscribers and the exit mix learn nothing about this node')
    .option('--hops <n>', 'mix hops of an anonymous publish, 1 to 8 (needs --anonymous)', integerIn(1, 8))
    .option('--pseudonym <key>', 'sign with this pseudonym of the node instead of the node key')
    .action(async (topic: string, message: string, _flags: unknown, cmd: Command) => {
      const { runPub } = await import('./commands/pubsub.ts')
      result.exitCode = await runPub(topic, message, flagsOf(cmd))
    })

  addClientCommand(program, 'reply', 'answer an anonymous message through one of its reply blocks')
    .argument('<id>', 'id of an anonymous message in the inbox (32 hex characters)')
    .argument('<message>', 'text, up to 3,358 bytes')
    .action(async (id: string, message: string, _flags: unknown, cmd: Command) => {
      const { runReply } = await import('./commands/client.ts')
      result.exitCode = await runReply(id, message, flagsOf(cmd))
    })

  addClientCommand(program, 'inbox', 'list the durable inbox newest first (messages and anonymous replies), or delete or acknowledge entries')
    .option('--limit <n>', 'entries per page, 1 to 1000 (default: 100)', integerIn(1, 1000))
    .option('--before <cursor>', 'the cursor printed under the previous page: list older entries')
    .option('--delete <id>', 'delete the entry with this id (32 hex characters)')
    .option('--ack <id...>', 'acknowledge entries the application has processed (they are deleted)')
    .option('--wait <seconds>', 'when the inbox is empty, wait up to this long for a message, 1 to 300 (exit 1 when none came)', integerIn(1, 300))
    .action(async (_flags: unknown, cmd: Command) => {
      const { runInbox } = await import('./commands/client.ts')
      result.exitCode = await runInbox(flagsOf(cmd))
    })

  const name = program.command('name')
    .description('register, resolve and list names: global ones (alice, first-come) and zone ones (alice.key_…)')
  addClientCommand(name, 'register', 'register or update a name pointing to typed records; the node renews it before it expires')
    .argument('<name>', 'a global label (a-z, 0-9, -; 1 to 63 chars; shorter labels cost more work) or label.key_… of the node\'s own key')
    .option('--peer <peer...>', 'a PeerId or key_ for direct messages and hole punching', collect)
    .option('--pseudonym <key...>', 'a pseudonym key_… for anonymous messages', collect)
    .option('--multiaddr <addr...>', 'a multiaddr', collect)
    .option('--text <text...>', 'a text value, up to 256 bytes', collect)
    .option('--ttl <seconds>', 'lifetime of the record, 1 to 172800 (default: 86400)', integerIn(1, 48 * 3600))
    .option('--cache-ttl <seconds>', 'how long resolvers cache the answer, 0 to 3600 (default: 300)', integerIn(0, 3600))
    .option('--no-renew', 'let the name lapse after --ttl')
    .addHelpText('after', '\nExits 1 with UMBRA_ERR_KEY_OWNED when another key holds the global name.')
    .action(async (n: string, _flags: unknown, cmd: Command) => {
      const { runNameRegister } = await import('./commands/names.ts')
      result.exitCode = await runNameRegister(n, flagsOf(cmd))
    })
  addClientCommand(name, 'resolve', 'print the records a name points to (exit 1 when there is none)')
    .argument('<name>', 'alice or alice.key_…')
    .option('--fresh', 'ask the network even when the node has a cached answer')
    .action(async (n: string, _flags: unknown, cmd: Command) => {
      const { runNameResolve } = await import('./commands/names.ts')
      result.exitCode = await runNameResolve(n, flagsOf(cmd))
    })
  addClientCommand(name, 'list', 'list the names the node owns')
    .action(async (_flags: unknown, cmd: Command) => {
      const { runNameList } = await import('./commands/names.ts')
      result.exitCode = await runNameList(flagsOf(cmd))
    })

  const passphrase = program.command('passphrase')
    .description('encrypt the key files (identity.key, pseudonyms.json) of a stopped node with a passphrase, change it, or remove it (docs/auth.md)')
  for (const [action, what] of [['set', 'encrypt the key files with a new passphrase ($UMBRA_NEW_PASSPHRASE, --new-passphrase-file or a prompt)'], ['change', 'change the passphrase (current: $UMBRA_PASSPHRASE or --passphrase-file; new: $UMBRA_NEW_PASSPHRASE or --new-passphrase-file)'], ['remove', 'decrypt the key files for good (current passphrase: $UMBRA_PASSPHRASE or --passphrase-file)']] as const) {
    addClientCommand(passphrase, action, what)
      .option('--passphrase-file <file>', 'the current passphrase, from a file')
      .option('--new-passphrase-file <file>', 'the new passphrase, from a file')
      .addHelpText('after', '\nExits 1 with UMBRA_ERR_BAD_PASSPHRASE (no file changed) or UMBRA_ERR_ALREADY_RUNNING (stop the node first).')
      .action(async (_flags: unknown, cmd: Command) => {
        const { runPassphrase } = await import('./commands/passphrase.ts')
        result.exitCode = await runPassphrase(action, flagsOf(cmd))
      })
  }

  const auth = program.command('auth')
    .description('challenge-response: prove that a node or pseudonym holds its key, once, for one purpose (docs/auth.md)')
  addClientCommand(auth, 'challenge', 'issue a challenge (printed as one JSON line) for someone to answer')
    .requiredOption('--purpose <purpose>', 'what the proof is for, 1 to 64 characters of A-Z a-z 0-9 . _ : / -')
    .option('--ttl <ms>', 'lifetime of the challenge, 1000 to 600000 (default: 60000)', integerIn(1000, 600_000))
    .action(async (_flags: unknown, cmd: Command) => {
      const { runAuthChallenge } = await import('./commands/auth.ts')
      result.exitCode = await runAuthChallenge(flagsOf(cmd))
    })
  addClientCommand(auth, 'respond', 'answer a challenge with the node key or one of its pseudonyms (prints the response)')
    .argument('<challenge>', 'the challenge JSON, or @FILE (@- for stdin)')
    .option('--key <key>', 'sign with this key: the node key or one of its pseudonyms (default: the node key)')
    .action(async (challenge: string, _flags: unknown, cmd: Command) => {
      const { runAuthRespond } = await import('./commands/auth.ts')
      result.exitCode = await runAuthRespond(challenge, flagsOf(cmd))
    })
  addClientCommand(auth, 'verify', 'verify a response to a challenge this node issued (exit 1 with the reason\'s code when refused)')
    .argument('<challenge>', 'the challenge JSON, or @FILE')
    .argument('<response>', 'the response JSON, or @FILE')
    .option('--purpose <purpose>', 'refuse unless the challenge is for this purpose')
    .option('--key <key>', 'refuse unless this key signed')
    .action(async (challenge: string, response: string, _flags: unknown, cmd: Command) => {
      const { runAuthVerify } = await import('./commands/auth.ts')
      result.exitCode = await runAuthVerify(challenge, response, flagsOf(cmd))
    })
  addClientCommand(auth, 'prove', 'ask a peer to prove its node key over /umbra/auth/1.0.0')
    .argument('<peer>', 'PeerId or key_…')
    .requiredOption('--purpose <purpose>', 'what the proof is for')
    .action(async (peer: string, _flags: unknown, cmd: Command) => {
      const { runAuthProve } = await import('./commands/auth.ts')
      result.exitCode = await runAuthProve(peer, flagsOf(cmd))
    })
  // Issue 14, item 2: ring signatures (docs/proofs.md)
  addClientCommand(program, 'prove', 'sign a message as an anonymous member of a ring of keys (the node signs with its key or a pseudonym in the ring)')
    .argument('<message>', 'the message, text')
    .requiredOption('--ring <key...>', '2 to 256 key_ ids (node keys or pseudonyms), in order', collect)
    .option('--scope <scope>', 'linking scope: two signatures by one member in one scope share a key image (default: empty)')
    .action(async (message: string, _flags: unknown, cmd: Command) => {
      const { runProve } = await import('./commands/proofs.ts')
      result.exitCode = await runProve(message, flagsOf(cmd))
    })
  addClientCommand(program, 'verify', 'check a ring signature made by umbra prove (exit 1 when it does not verify)')
    .argument('<message>', 'the message, text')
    .argument('<signature>', 'the signature, base64')
    .requiredOption('--ring <key...>', 'the same key_ ids in the same order', collect)
    .option('--scope <scope>', 'the scope it was signed in (default: empty)')
    .action(async (message: string, signature: string, _flags: unknown, cmd: Command) => {
      const { runVerify } = await import('./commands/proofs.ts')
      result.exitCode = await runVerify(message, signature, flagsOf(cmd))
    })

  const pseudonym = program.command('pseudonym')
    .description('create, list and purge pseudonyms: addresses others can write to anonymously')
  addClientCommand(pseudonym, 'new', 'create a pseudonym and print its key')
    .option('--label <label>', 'a note for yourself, up to 128 characters (stays on the node)')
    .option('--gateways <n>', 'how many gateways hold its mailbox, 1 to 3; senders fail over between them (default: 3)', integerIn(1, 3))
    .action(async (_flags: unknown, cmd: Command) => {
      const { runPseudonymNew } = await import('./commands/client.ts')
      result.exitCode = await runPseudonymNew(flagsOf(cmd))
    })
  addClientCommand(pseudonym, 'list', 'list the node\'s pseudonyms')
    .action(async (_flags: unknown, cmd: Command) => {
      const { runPseudonymList } = await import('./commands/client.ts')
      result.exitCode = await runPseudonymList(flagsOf(cmd))
    })
  addClientCommand(pseudonym, 'purge', 'delete the incomplete messages the pseudonym\'s mailbox holds at its gateway')
    .argument('<key>', 'one of the node\'s pseudonyms (key_…)')
    .option('--all', 'delete every row, also complete messages not yet delivered')
    .action(async (key: string, _flags: unknown, cmd: Command) => {
      const { runPseudonymPurge } = await import('./commands/client.ts')
      result.exitCode = await runPseudonymPurge(key, flagsOf(cmd))
    })

  program.command('testnet')
    .description('run several nodes on 127.0.0.1 until SIGINT or SIGTERM')
    .option('--nodes <n>', `number of nodes (1 to ${MAX_LOCAL_NODES})`, integerIn(1, MAX_LOCAL_NODES), TESTNET_DEFAULT_NODES)
    .option('--clients <n>', 'how many of the nodes (the last ones) run as clients; the others are servers: mix nodes and gateways', integerIn(0, MAX_LOCAL_NODES - 1), 0)
    .addOption(new Option('--mixnet-preset <preset>', 'mixnet preset of every node (default: balanced)').choices(MIXNET_PRESETS).env(ENV_MIXNET_PRESET))
    .option('--mixnet-threads <n>', 'mix worker threads per node (default: one per core)', integerIn(1, 64))
    .option('--dir <dir>', 'directory for the nodes\' data and testnet.json (default: a temporary one, removed at the end)')
    .option('--stun-port <port|off>', 'STUN port of every server node; a fixed port suits one server only (default: 0, a free port each, since several servers on one host cannot all bind 3478)', parseStunPort)
    .addHelpText('after', '\n--json prints one JSON line when the testnet is up.')
    .action(async (_flags: unknown, cmd: Command) => {
      const { runTestnet } = await import('./commands/testnet.ts')
      result.exitCode = await runTestnet(flagsOf(cmd))
    })

  program.command('central')
    .description('run the central WebSocket pub/sub server of hybrid mode until SIGINT or SIGTERM; it sees who publishes what, so nodes use it only when told (docs/pubsub-hybrid.md)')
    .option('--listen <host:port>', 'where to listen (default: 127.0.0.1:7460; port 0 picks a free port)', parseHostPort)
    .option('--max-message-bytes <n>', 'largest envelope one publish may carry (default: 1048576)', integerIn(1, 64 * 1024 * 1024))
    .option('--rate <n>', 'frames per second one connection may send, bursts of twice that (default: 100)', integerIn(1, 1_000_000))
    .addHelpText('after', '\n--json prints the ready line as one JSON object.')
    .action(async (_flags: unknown, cmd: Command) => {
      const { runCentral } = await import('./commands/central.ts')
      result.exitCode = await runCentral(flagsOf(cmd))
    })

  program.command('demo')
    .description('run the main job end to end on a local network of node processes')
    .option('--nodes <n>', `number of nodes (${DEMO_MIN_NODES} to ${MAX_LOCAL_NODES})`, integerIn(DEMO_MIN_NODES, MAX_LOCAL_NODES), DEMO_DEFAULT_NODES)
    .addHelpText('after', '\n--json prints one JSON object with every step\'s result instead of progress.')
    .action(async (_flags: unknown, cmd: Command) => {
      const { runDemo } = await import('./commands/demo.ts')
      result.exitCode = await runDemo(flagsOf(cmd))
    })

  program.command('completion')
    .description('print a completion script for bash or zsh; load it with: source <(umbra completion bash)')
    .addArgument(new Argument('<shell>', 'the shell').choices(COMPLETION_SHELLS))
    .action(async (shell: CompletionShell) => {
      const { completionScript } = await import('./completion.ts')
      process.stdout.write(completionScript(program, shell))
    })

  return program
}

function collect (value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

/**
 * The global options, accepted before or after any command (issue 12: the
 * README's `umbra --data-dir ./alice put …` must work as typed), and
 * `umbra --query NAME` (seed 003's CLI), which resolves a name through the
 * node and prints its records. Commands read them with {@link flagsOf}.
 */
function addGlobalOptions (program: Command, result: { exitCode: number }): void {
  program
    .option('--data-dir <dir>', 'data directory of the node: identity, API token, api.json (default: $UMBRA_HOME, else ~/.umbra)')
    .option('--api <url|host:port>', `client commands: the node's API (default: $${ENV_API_URL}, else <data-dir>/api.json, else http://${DEFAULT_API_HOST}:${DEFAULT_API_PORT}); start: where the API listens (default: ${DEFAULT_API_HOST}:${DEFAULT_API_PORT}, port 0 picks a free port)`, parseApiAddress)
    .option('--token <token>', `API bearer token of client commands (default: $${ENV_API_TOKEN}, else <data-dir>/api-token)`)
    .option('--json', 'print JSON: the API\'s answer, the ready line of start and testnet, the demo\'s results')
    .option('--query <name>', 'resolve a name (alice, alice.key_…) through the node and print its records')
    .allowExcessArguments(true)
    // --query is a command of its own: with another command it would be dropped silently
    .hook('preSubcommand', (_root, sub) => {
      if (program.opts().query !== undefined) program.error(`error: --query resolves a name on its own; drop it, or drop '${sub.name()}'`, { code: 'commander.conflictingOption', exitCode: EXIT_USAGE })
    })
    .action(async (flags: { query?: string, api?: string, token?: string, dataDir?: string, json?: boolean }) => {
      const command = program.args[0]
      if (command !== undefined) program.error(`error: unknown command '${command}'`, { code: 'commander.unknownCommand', exitCode: EXIT_USAGE })
      if (flags.query === undefined) program.help({ error: true })
      const { runNameResolve } = await import('./commands/names.ts')
      result.exitCode = await runNameResolve(flags.query, flags)
    })
}

function addClientCommand (program: Command, name: string, description: string): Command {
  return program.command(name).description(description)
}

/**
 * A command's options merged with the global ones (`--data-dir`, `--api`,
 * `--token`, `--json`), which may stand before or after the command name.
 */
function flagsOf<T extends OptionValues> (cmd: Command): T {
  return cmd.optsWithGlobals<T>()
}

/**
 * Runs the CLI. Expected errors become one line on stderr,
 * `umbra: <message> (<code>)`, and exit code 1; bad flags exit 2 with
 * commander's one line.
 * @returns the process exit code
 */
export async function run (argv: string[]): Promise<number> {
  const result = { exitCode: 0 }
  const program = createProgram(result)
  try {
    await program.parseAsync(argv)
    return result.exitCode
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; parse errors were printed by commander
      if (err.exitCode === 0) return 0
      return err.code === 'commander.help' ? EXIT_FAILURE : EXIT_USAGE
    }
    process.stderr.write(errorLine(err) + '\n')
    if (!(err instanceof UmbraError) && !isSystemError(err) && process.env.UMBRA_DEBUG != null) {
      process.stderr.write(`${(err as Error)?.stack ?? ''}\n`)
    }
    return EXIT_FAILURE
  }
}

/** `umbra: <message> (<code>)` for one error. */
export function errorLine (err: unknown): string {
  if (err instanceof UmbraError) return `umbra: ${oneLine(err.message)} (${err.code})`
  if (isSystemError(err)) return `umbra: ${oneLine(err.message)} (${err.code})`
  const message = err instanceof Error ? err.message : String(err)
  return `umbra: unexpected error: ${oneLine(message)}; set UMBRA_DEBUG=1 for details (UMBRA_ERR_INTERNAL)`
}

function isSystemError (err: unknown): err is NodeJS.ErrnoException & { code: string } {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && /^E[A-Z]+$/.test((err as NodeJS.ErrnoException).code ?? '')
}

function oneLine (text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim()
}
