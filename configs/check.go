package configs

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a configuration: where (file, line and
// key path, as far as known) and what, in the words of the file, never of
// the Go types behind it.
type Problem struct {
	File string
	Line int    // 0 when unknown (a default or a flag)
	Path string // key path, e.g. sip.ratePerSource or users[3]
	Msg  string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteString(":" + strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems are every problem of a configuration, in file order; it is the
// error Load, Demo and Validate return.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// problemsOf flattens err (joined errors included) into problems at path.
func problemsOf(path string, err error) Problems {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out Problems
		for _, e := range j.Unwrap() {
			out = append(out, problemsOf(path, e)...)
		}
		return out
	}
	var ps Problems
	if errors.As(err, &ps) {
		return ps
	}
	// The core's messages start with their outcome code; here the key
	// path says what is wrong where.
	msg := coreNoise.ReplaceAllString(err.Error(), "")
	return Problems{{Path: path, Msg: msg}}
}

// coreNoise is the outcome code and sentinel text the core's messages
// carry ("INVALID_ARGUMENT: invalid argument: "), wherever they are wrapped.
var coreNoise = regexp.MustCompile(`(?:\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+: )?invalid argument: `)

// nodeLines maps every key path of a YAML document to the line it is on.
func nodeLines(n *yaml.Node, path string, out map[string]int) {
	if n == nil {
		return
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			nodeLines(c, path, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := joinPath(path, k.Value)
			if k.Value == "<<" {
				p = path // a merge key adds to the mapping it is in
			}
			if _, seen := out[p]; !seen {
				out[p] = k.Line
			}
			nodeLines(v, p, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			out[p] = c.Line
			nodeLines(c, p, out)
		}
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// lineOf finds the line of path or, failing that, of the nearest key
// above it that the file has.
func lineOf(lines map[string]int, path string) int {
	for p := path; p != ""; {
		if l, ok := lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

var durationType = reflect.TypeFor[time.Duration]()

var yaml11Bools = map[string]bool{}

func init() {
	for _, w := range []string{"y", "yes", "on", "n", "no", "off"} {
		yaml11Bools[w], yaml11Bools[strings.ToUpper(w)], yaml11Bools[strings.ToUpper(w[:1])+w[1:]] = true, true, true
	}
}

// checkTypes walks the document against the configuration's types and
// reports every unknown key and every value of the wrong kind, with its
// key path and line.
func checkTypes(n *yaml.Node, t reflect.Type, path string, add func(line int, path, msg string)) {
	if n == nil || n.Kind == 0 {
		return // an empty file: all defaults
	}
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			checkTypes(c, t, path, add)
		}
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value leaves the default
	}
	if t == durationType {
		if n.Kind != yaml.ScalarNode {
			add(n.Line, path, "must be a duration such as 30s, 10m or 1h, got "+kindName(n))
		} else if _, err := time.ParseDuration(n.Value); err != nil && n.Tag != "!!int" {
			add(n.Line, path, fmt.Sprintf("must be a duration such as 30s, 10m or 1h, got %q", n.Value))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			add(n.Line, path, "must be a mapping of keys, got "+kindName(n))
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				checkTypes(v, t, path, add)
				continue
			}
			p := joinPath(path, k.Value)
			ft, ok := fields[k.Value]
			if !ok {
				msg := "unknown key"
				for name := range fields {
					if strings.EqualFold(name, k.Value) {
						msg += "; did you mean " + name + "?"
					}
				}
				add(k.Line, p, msg)
				continue
			}
			checkTypes(v, ft, p, add)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			add(n.Line, path, "must be a list, got "+kindName(n))
			return
		}
		for i, c := range n.Content {
			checkTypes(c, t.Elem(), path+"["+strconv.Itoa(i)+"]", add)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			add(n.Line, path, "must be a mapping of keys, got "+kindName(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkTypes(n.Content[i+1], t.Elem(), joinPath(path, n.Content[i].Value), add)
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			add(n.Line, path, "must be a string, got "+kindName(n))
		}
	case reflect.Bool:
		// The decoder also takes YAML 1.1's yes, no, on and off.
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!bool" && !yaml11Bools[n.Value]) {
			add(n.Line, path, "must be true or false, got "+kindName(n))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			add(n.Line, path, "must be a whole number, got "+kindName(n))
		}
	case reflect.Float32, reflect.Float64:
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
			add(n.Line, path, "must be a number, got "+kindName(n))
		}
	}
}

// kindName describes a YAML value for a message: the value itself when it
// is a scalar, else what it is.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// yamlFields maps a struct's YAML keys to their types, inline structs
// included.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if slices.Contains(strings.Split(opts, ","), "inline") {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlProblems turns the YAML library's own errors (syntax, or a type error
// the walk did not foresee) into problems; Go type names are cut out.
func yamlProblems(err error) Problems {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	var out Problems
	for _, m := range msgs {
		p := Problem{Msg: strings.TrimPrefix(m, "yaml: ")}
		if sm := yamlLineRE.FindStringSubmatch(m); sm != nil {
			p.Line, _ = strconv.Atoi(sm[1])
			p.Msg = sm[2]
		}
		p.Msg = goTypeRE.ReplaceAllString(p.Msg, "${1}a value of another kind")
		out = append(out, p)
	}
	return out
}

// goTypeRE finds "into <Go type>" in the YAML library's messages.
var goTypeRE = regexp.MustCompile(`(into )[\w.\[\]*]+`)
