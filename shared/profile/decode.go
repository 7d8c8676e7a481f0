package profile

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads, parses and validates the profile in the file at path.
func Load(path string) (*Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tenant profile: %w", err)
	}
	return Parse(data, path)
}

// Parse parses and validates a profile; source names it in errors. Keys
// that the profile does not have are errors (like yaml.v3's KnownFields,
// but reporting every one, with its path). Decoding and validation problems
// are all reported together.
func Parse(data []byte, source string) (*Profile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Problem{Source: source, Msg: "profile is empty"}
		}
		return nil, &Problem{Source: source, Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &Problem{Source: source, Line: extra.Line, Msg: "holds more than one YAML document; a profile is one document"}
	}
	p := Defaults()
	p.source = source
	p.lines = map[string]int{}
	d := &decoder{source: source, lines: p.lines}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	d.value(root, reflect.ValueOf(&p).Elem(), "")
	if p.Sink.Database == "" {
		p.Sink.Database = p.Tenant
	}
	p.datasetDefaults()
	errs := append(d.errs, p.validate(d.failed)...)
	if len(errs) > 0 {
		// In file order, so that the list reads alongside the file.
		sort.SliceStable(errs, func(i, j int) bool {
			return errs[i].(*Problem).Line < errs[j].(*Problem).Line
		})
		return nil, errors.Join(errs...)
	}
	return &p, nil
}

// decoder fills a Profile from a YAML node tree, recording each field's line
// and collecting every problem rather than stopping at the first.
type decoder struct {
	source string
	lines  map[string]int
	errs   []error
	failed []string // paths that did not decode, so validation skips them
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &Problem{Source: d.source, Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)})
	d.failed = append(d.failed, path)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	d.lines[path] = n.Line
	// An empty value ("window:") keeps the default.
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if tu, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		if n.Kind != yaml.ScalarNode {
			d.fail(n, path, "want a single value, found %s", kindName(n))
			return
		}
		if err := tu.UnmarshalText([]byte(n.Value)); err != nil {
			d.fail(n, path, "%s", err.Error())
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Slice:
		items := n.Content
		switch n.Kind {
		case yaml.SequenceNode:
		case yaml.ScalarNode: // "formats: csv" is a list of one
			items = []*yaml.Node{n}
		default:
			d.fail(n, path, "want a list, found %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(items), len(items))
		for i, item := range items {
			d.value(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "want a mapping, found %s", kindName(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			child := path + "." + k.Value
			if first, dup := seen[k.Value]; dup {
				d.fail(k, child, "repeated (first at line %d)", first)
				continue
			}
			seen[k.Value] = k.Line
			elem := reflect.New(v.Type().Elem()).Elem()
			d.value(val, elem, child)
			m.SetMapIndex(reflect.ValueOf(k.Value), elem)
		}
		v.Set(m)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(n, path, "want a single value, found %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.fail(n, path, "%s is not a whole number", kindName(n))
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || (n.Value != "true" && n.Value != "false") {
			d.fail(n, path, "%s is not true or false", kindName(n))
			return
		}
		v.SetBool(n.Value == "true")
	default:
		// Only reachable if a field of an unsupported kind is added to Profile.
		d.fail(n, path, "cannot decode into %s", v.Type())
	}
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping, found %s", kindName(n))
		return
	}
	t := v.Type()
	fields := map[string]int{}
	var known []string
	for i := 0; i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			fields[name] = i
			known = append(known, name)
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		child := k.Value
		if path != "" {
			child = path + "." + k.Value
		}
		idx, ok := fields[k.Value]
		if !ok {
			sort.Strings(known)
			d.fail(k, child, "unknown key %q (known here: %s)", k.Value, strings.Join(known, ", "))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(k, child, "repeated (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		d.value(val, v.Field(idx), child)
	}
}
