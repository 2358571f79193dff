/**
 * The part of udx-native (holepunch, Apache-2.0; reliable streams over UDP,
 * the transport under hyperdht) that src/nat/udx-connection.ts uses. The
 * package ships no type declarations. Streams are streamx duplexes.
 */
declare module 'udx-native' {
  import type { EventEmitter } from 'node:events'

  /** A UDP socket of udx (libuv). */
  export interface UdxSocket extends EventEmitter {
    readonly bound: boolean
    /** Binds `port` (0: ephemeral) on `host`; throws when the port is taken. */
    bind (port?: number, host?: string): void
    address (): { host: string, family: number, port: number } | null
    close (): Promise<void>
  }

  /** A reliable, ordered byte stream over a udx socket (streamx Duplex). */
  export interface UdxStream extends EventEmitter {
    readonly destroyed: boolean
    /** Connects this stream (local id given at creation) to stream `remoteId` at `host:port` through `socket`. */
    connect (socket: UdxSocket, remoteId: number, port: number, host: string): void
    /** Sends a keep-alive after `ms` of silence. */
    setKeepalive (ms: number): void
    write (data: Uint8Array): boolean
    end (): void
    destroy (err?: Error): void
    pause (): void
    resume (): void
  }

  export default class UDX {
    createSocket (opts?: Record<string, unknown>): UdxSocket
    createStream (id: number, opts?: Record<string, unknown>): UdxStream
  }
}
