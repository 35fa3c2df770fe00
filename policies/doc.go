// Package policies is kscope's library of policy rules (README.md), embedded
// so that the tests, on any machine, read the files as shipped.
package policies

import "embed"

// Files are the rule files, *.yaml.
//
//go:embed *.yaml
var Files embed.FS
