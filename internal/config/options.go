package config

import (
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

var durationType = reflect.TypeOf(time.Duration(0))

// options is a collector's options struct being decoded: a settable copy
// of its Section's defaults.
type options struct {
	v reflect.Value // the struct, addressable; invalid: no options
}

func newOptions(defaults any) options {
	if defaults == nil {
		return options{}
	}
	v := reflect.New(reflect.TypeOf(defaults)).Elem()
	v.Set(reflect.ValueOf(defaults))
	return options{v}
}

// keys lists the option keys in field order.
func (o options) keys() []string {
	if !o.v.IsValid() {
		return nil
	}
	var keys []string
	t := o.v.Type()
	for i := range t.NumField() {
		if k := optionKey(t.Field(i)); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// field is the field the key decodes into.
func (o options) field(key string) reflect.Value {
	t := o.v.Type()
	for i := range t.NumField() {
		if optionKey(t.Field(i)) == key {
			return o.v.Field(i)
		}
	}
	return reflect.Value{}
}

func optionKey(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	k, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if k == "-" {
		return ""
	}
	return k
}

// value is the decoded struct (nil without options).
func (o options) value() any {
	if !o.v.IsValid() {
		return nil
	}
	return o.v.Interface()
}

// option decodes one option key from v into o, with the same words for a
// wrong value as every other key of the file, then lets the options check
// it.
func (p *parser) option(o options, key string, v *yaml.Node, path string) {
	f := o.field(key)
	switch {
	case f.Type() == durationType:
		f.SetInt(int64(p.duration(v, path)))
	case f.Kind() == reflect.Bool:
		f.SetBool(p.boolean(v, path))
	case f.Kind() == reflect.Int:
		f.SetInt(int64(p.positive(v, path)))
	case f.Kind() == reflect.String:
		f.SetString(p.str(v, path))
	default:
		p.fail(v, path, "option of unsupported type %s", f.Type())
		return
	}
	if c, ok := o.v.Interface().(OptionChecker); ok && p.err == nil {
		p.check(v, path, c.CheckOption(key, v.Value))
	}
}
