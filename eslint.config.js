import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly',
        setInterval: 'readonly', clearInterval: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly',
        URL: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', Buffer: 'readonly', fetch: 'readonly',
        performance: 'readonly', EventTarget: 'readonly', Event: 'readonly', CustomEvent: 'readonly'
      }
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: 'PropertyDefinition[key.name=/^_/]', message: 'Use #private fields, not _underscore (STYLE.md).' }]
    }
  }
)
