// Package rules is kscope's shipped Prometheus rule file,
// kscope.rules.yml (the packages install it; kscope.rules.test.yml holds
// promtool's unit tests of it), embedded so that the tests, on any
// machine, read the file as shipped.
package rules

import _ "embed"

// Shipped is kscope.rules.yml.
//
//go:embed kscope.rules.yml
var Shipped []byte
