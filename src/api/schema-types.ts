/**
 * A type-level reading of the JSON schemas in src/api/openapi.ts (issue 12,
 * item 4): `FromSchema<typeof schema>` is the TypeScript type of the JSON a
 * schema accepts, so the route schemas are the only place a request or
 * response shape is written. Model: `json-schema-to-ts`'s `FromSchema`,
 * reduced to the keywords the route schemas use: `type` (a name or a list),
 * `const`, `enum`, `properties`, `required`, `additionalProperties`, `items`,
 * and `default`. Keywords that do not change the type (`minLength`,
 * `pattern`, `description`, `if`/`then`/`else`, …) are ignored, so a value of
 * the type may still be refused by the validator.
 *
 * Schemas must be written `as const` for their literals to survive.
 *
 * @example
 * ```ts
 * const s = { type: 'object', required: ['id'], properties: { id: { type: 'string' }, n: { type: 'integer' } } } as const
 * type T = FromSchema<typeof s> // { id: string, n?: number }
 * ```
 */

/** JSON Schema type names. */
type JsonTypeName = 'string' | 'integer' | 'number' | 'boolean' | 'null' | 'array' | 'object'

/** Flattens an intersection into one object type (for readable hovers and errors). */
type Simplify<T> = { [K in keyof T]: T[K] } & {}

/**
 * The TypeScript type of the JSON `S` accepts. With `Validated = true`, a
 * property that has a `default` is present (what the server sees after Ajv's
 * `useDefaults`); with `false` it is optional (what a client may send).
 */
export type FromSchema<S, Validated extends boolean = false> =
  S extends false ? never
    : S extends true ? unknown
      : S extends { readonly const: infer C } ? C
        : S extends { readonly enum: ReadonlyArray<infer E> } ? E
          : S extends { readonly type: ReadonlyArray<infer T> } ? EachType<T, S, Validated>
            : S extends { readonly type: infer T } ? EachType<T, S, Validated>
              : unknown

/** One member per type name (`type: ['string', 'null']` → `string | null`). */
type EachType<T, S, V extends boolean> = T extends JsonTypeName ? OfType<T, S, V> : never

type OfType<T extends JsonTypeName, S, V extends boolean> =
  T extends 'string' ? string
    : T extends 'integer' | 'number' ? number
      : T extends 'boolean' ? boolean
        : T extends 'null' ? null
          : T extends 'array' ? (S extends { readonly items: infer I } ? Array<FromSchema<I, V>> : unknown[])
            : ObjectOf<S, V>

/** Names in `required`. */
type RequiredKeys<S> = S extends { readonly required: ReadonlyArray<infer R> } ? R : never

/** Properties that have a `default`. */
type DefaultedKeys<P> = { [K in keyof P]: P[K] extends { readonly default: unknown } ? K : never }[keyof P]

/** Keys always present: required ones, and with `V` the defaulted ones. */
type PresentKeys<S, P, V extends boolean> = RequiredKeys<S> | (V extends true ? DefaultedKeys<P> : never)

/** `additionalProperties: <schema>` → an index signature; `false` or absent → none. */
type ExtraOf<S, V extends boolean> = S extends { readonly additionalProperties: infer A }
  ? (A extends boolean ? unknown : Record<string, FromSchema<A, V>>)
  : unknown

type ObjectOf<S, V extends boolean> = S extends { readonly properties: infer P }
  ? Simplify<
    { -readonly [K in keyof P as K extends PresentKeys<S, P, V> ? K : never]: FromSchema<P[K], V> } &
    { -readonly [K in keyof P as K extends PresentKeys<S, P, V> ? never : K]?: FromSchema<P[K], V> } &
    ExtraOf<S, V>
  >
  : S extends { readonly additionalProperties: infer A } ? (A extends false ? Record<string, never> : A extends true ? Record<string, unknown> : Record<string, FromSchema<A, V>>)
    : Record<string, unknown>
