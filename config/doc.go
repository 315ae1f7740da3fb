// Package config defines the YAML configuration of the Webtrunk gateway:
// its schema (one documented Go type per section), strict decoding, defaults
// and validation.
//
// # Loading
//
// [Load] reads a file and [Parse] decodes bytes. Both run the same four
// steps:
//
//  1. The YAML document is decoded strictly against the schema: an unknown
//     or misspelt key, a duplicate key or a value of the wrong type is an
//     error carrying the key's dotted path (for example
//     "trunks[1].register.expiry") and its line.
//  2. Environment references in [Secret] fields are resolved.
//  3. Defaults are applied. Every default is written in the doc comment of
//     the field it belongs to; static defaults are those of [Default].
//  4. [Config.Validate] checks every field and every cross-reference.
//
// All problems found by these steps are reported together in one
// [*ValidationError], sorted by line, so an operator fixes a file in one
// pass.
//
// # Secrets
//
// Fields of type [Secret] (trunk passwords, TURN credentials, the JWT signing
// key, password hashes) accept either a literal value or a reference to an
// environment variable: "${NAME}" takes the variable's value and fails when
// it is not set; "${NAME:-fallback}" uses fallback when the variable is unset
// or empty. Expansion applies to Secret fields only, and only when the whole
// value is one reference; nothing else in the file is ever expanded. A
// Secret prints, marshals and logs as "[redacted]", so a [Config] can be
// logged as it is.
//
// # Number patterns
//
// Dial rules and outbound routing use [NumberPattern], a small glob language
// over E.164 numbers: "+44[1-3]XXXXXXXXX" or "+1555*".
package config
