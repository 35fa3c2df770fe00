package probe

import (
	"github.com/kscope/kscope/internal/probe/ast"
	"github.com/kscope/kscope/internal/probe/check"
	"github.com/kscope/kscope/internal/probe/parse"
)

// Script is a parsed and type-checked script.
type Script struct {
	File    string
	Source  []byte
	Program *ast.Program
	Info    *check.Info
}

// Load parses and type-checks the script src, named file in errors; conf
// holds the positional parameters and options (nil: none known yet). The
// error, when not nil, is an ast.ErrorList whose text is ready to show.
func Load(file string, src []byte, conf *check.Config) (*Script, error) {
	prog, err := parse.Parse(file, src)
	if err != nil {
		return nil, err
	}
	info, err := check.Check(file, src, prog, conf)
	if err != nil {
		return nil, err
	}
	return &Script{File: file, Source: src, Program: prog, Info: info}, nil
}
