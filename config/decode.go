package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// nodeBudget bounds the number of YAML nodes decoded from one document
// (262144), so that alias expansion ("billion laughs") cannot exhaust memory
// or time. A configuration with thousands of users and trunks stays far
// below it.
const nodeBudget = 1 << 18

var (
	secretType   = reflect.TypeFor[Secret]()
	durationType = reflect.TypeFor[time.Duration]()
	addrType     = reflect.TypeFor[netip.Addr]()
	prefixType   = reflect.TypeFor[netip.Prefix]()
	patternType  = reflect.TypeFor[NumberPattern]()
)

// defaulter is implemented by list element types with static defaults,
// which are set before the element's YAML is decoded over them.
type defaulter interface{ setDefaults() }

// decoder decodes a YAML node tree into Go values strictly, walking the
// nodes and the Go types side by side. It never stops at the first problem:
// every unknown key, duplicate key and badly typed value is recorded with
// its path and line, and the offending value is left at its default.
type decoder struct {
	getenv func(string) (string, bool)
	probs  *problems
	// skip holds paths whose validation problems are not reported: paths
	// that failed to decode (their value is a placeholder) and required
	// keys that were probably misspelt (already reported as unknown).
	skip   []string
	budget int
}

// decodeYAML parses data as one YAML document and decodes it over cfg.
func (d *decoder) decodeYAML(data []byte, cfg *Config) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if !errors.Is(err, io.EOF) {
			d.syntaxError(err)
		}
		return
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.fail("", extra.Line, "only one YAML document is allowed")
	} else if !errors.Is(err, io.EOF) {
		d.syntaxError(err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return
		}
		root = root.Content[0]
	}
	d.value(root, reflect.ValueOf(cfg).Elem(), "")
}

// syntaxError records a YAML parser error ("yaml: line 3: did not find
// expected key") with its line.
func (d *decoder) syntaxError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, after, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, after
			}
		}
	}
	d.fail("", line, "invalid YAML: "+msg)
}

// fail records a decoding problem and hides validation problems at and
// below path.
func (d *decoder) fail(path string, line int, msg string) {
	d.probs.list = append(d.probs.list, FieldError{Path: path, Line: line, Msg: msg})
	d.skip = append(d.skip, path)
}

// failErr is fail with an underlying error for errors.Is.
func (d *decoder) failErr(path string, line int, msg string, err error) {
	d.fail(path, line, msg)
	d.probs.list[len(d.probs.list)-1].err = err
}

// value decodes n into v, the field or element at path.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if d.budget--; d.budget == 0 {
		d.fail("", n.Line, "document too large after alias expansion")
	}
	if d.budget <= 0 {
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			d.fail(path, n.Line, "unknown alias")
			return
		}
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // an empty value keeps the default
	}
	switch v.Type() {
	case secretType, durationType, addrType, prefixType, patternType:
		d.special(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	case reflect.Pointer:
		if v.IsNil() {
			elem := reflect.New(v.Type().Elem())
			if df, ok := elem.Interface().(defaulter); ok {
				df.setDefaults()
			}
			v.Set(elem)
		}
		d.value(n, v.Elem(), path)
	case reflect.String:
		if d.scalar(n, path, "a string") {
			v.SetString(n.Value)
		}
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.fail(path, n.Line, "must be true or false, not "+describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			d.fail(path, n.Line, "must be a whole number, not "+describe(n))
			return
		}
		if v.OverflowInt(i) {
			d.fail(path, n.Line, "number out of range")
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		var f float64
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!float" && n.ShortTag() != "!!int") || n.Decode(&f) != nil {
			d.fail(path, n.Line, "must be a number, not "+describe(n))
			return
		}
		v.SetFloat(f)
	default:
		// Unreachable for the types of this package.
		d.fail(path, n.Line, "unsupported type "+v.Type().String())
	}
}

// scalar checks that n is a scalar, recording a problem otherwise.
func (d *decoder) scalar(n *yaml.Node, path, want string) bool {
	if n.Kind != yaml.ScalarNode {
		d.fail(path, n.Line, "must be "+want+", not "+describe(n))
		return false
	}
	return true
}

// special decodes the scalar types with their own text syntax.
func (d *decoder) special(n *yaml.Node, v reflect.Value, path string) {
	switch v.Type() {
	case secretType:
		expand := func(s string) (Secret, error) { return expandSecret(s, d.getenv) }
		setParsed(d, n, v, path, "a string", expand, "")
	case durationType:
		setParsed(d, n, v, path, `a duration such as "30s"`, time.ParseDuration,
			`must be a duration such as "30s", "5m" or "1h30m"`)
	case addrType:
		setParsed(d, n, v, path, "an IP address", netip.ParseAddr,
			"must be an IP address such as 192.0.2.1 or 2001:db8::1")
	case prefixType:
		setParsed(d, n, v, path, "an IP address or CIDR prefix", parsePrefix,
			"must be an IP address or CIDR prefix such as 192.0.2.0/24")
	case patternType:
		setParsed(d, n, v, path, "a number pattern", ParseNumberPattern, "")
	}
}

// setParsed sets v, of type T, to n's text read by parse. When n is not a
// scalar it records that it must be want; when parse fails it records msg,
// or, when msg is empty, parse's own error without its package prefix
// (kept for errors.Is).
func setParsed[T any](d *decoder, n *yaml.Node, v reflect.Value, path, want string, parse func(string) (T, error), msg string) {
	if !d.scalar(n, path, want) {
		return
	}
	x, err := parse(n.Value)
	switch {
	case err != nil && msg == "":
		d.failErr(path, n.Line, strings.TrimPrefix(err.Error(), "config: "), err)
	case err != nil:
		d.fail(path, n.Line, msg)
	default:
		v.Set(reflect.ValueOf(x))
	}
}

// errZone rejects IPv6 zones ("fe80::1%eth0") in address lists.
var errZone = errors.New("config: IPv6 zones are not allowed")

// parsePrefix parses a CIDR prefix or a single address (a full-length
// prefix). Host bits below the prefix length are cleared.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() {
			a := p.Addr().Unmap()
			bits := p.Bits() - 96
			if bits < 0 {
				bits = 0
			}
			p = netip.PrefixFrom(a, bits)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, errZone
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// mapping decodes a YAML mapping into the struct v. Merge keys ("<<") are
// applied first so that explicit keys override them.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n.Line, "must be a mapping of keys, not "+describe(n))
		return
	}
	fields := structFields(v.Type())
	present := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			d.merge(n.Content[i+1], v, path)
			continue
		}
		if k.Kind == yaml.ScalarNode {
			if _, dup := present[k.Value]; !dup {
				present[k.Value] = k.Line
			}
		}
	}
	seen := make(map[string]bool, len(present))
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(path, k.Line, "keys must be plain names, not "+describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			continue
		}
		p := joinPath(path, k.Value)
		if seen[k.Value] {
			d.fail(p, k.Line, fmt.Sprintf("duplicate key (first set on line %d)", present[k.Value]))
			continue
		}
		seen[k.Value] = true
		idx, ok := fields.index[k.Value]
		if !ok {
			msg := "unknown key"
			if s := suggest(k.Value, fields.names, present); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
				d.skip = append(d.skip, joinPath(path, s))
			}
			d.fail(p, k.Line, msg)
			continue
		}
		d.probs.lines[p] = k.Line
		d.value(val, v.Field(idx), p)
	}
}

// merge applies the value of a "<<" key: a mapping, an alias of one, or a
// list of those.
func (d *decoder) merge(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		d.value(n, v, path)
	case yaml.SequenceNode:
		for _, m := range n.Content {
			if m.Kind == yaml.AliasNode && m.Alias != nil {
				m = m.Alias
			}
			if m.Kind != yaml.MappingNode {
				d.fail(path, m.Line, "<< must merge mappings, not "+describe(m))
				continue
			}
			d.value(m, v, path)
		}
	default:
		d.fail(path, n.Line, "<< must merge a mapping, not "+describe(n))
	}
}

// sequence decodes a YAML list into the slice v, replacing any default.
func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(path, n.Line, "must be a list, not "+describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, e := range n.Content {
		p := path + "[" + strconv.Itoa(i) + "]"
		d.probs.lines[p] = e.Line
		elem := s.Index(i)
		if df, ok := elem.Addr().Interface().(defaulter); ok {
			df.setDefaults()
		}
		d.value(e, elem, p)
	}
	v.Set(s)
}

// fieldSet is the YAML view of a struct type.
type fieldSet struct {
	index map[string]int // YAML key -> field index
	names []string       // YAML keys in declaration order
}

// structFields lists the exported fields of t by their yaml tag.
func structFields(t reflect.Type) fieldSet {
	fs := fieldSet{index: make(map[string]int, t.NumField())}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fs.index[name] = i
		fs.names = append(fs.names, name)
	}
	return fs
}

// describe names the kind of a node for messages. It never includes the
// node's value, which might be a misplaced secret.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.ShortTag() {
	case "!!str":
		return "a string"
	case "!!int":
		return "a whole number"
	case "!!float":
		return "a decimal number"
	case "!!bool":
		return "a boolean"
	case "!!timestamp":
		return "a timestamp"
	}
	return "a scalar of type " + n.ShortTag()
}

// joinPath appends a key to a dotted path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// suggest returns the known key closest to an unknown one, when it is close
// enough to be a likely misspelling and not already present.
func suggest(key string, names []string, present map[string]int) string {
	best, bestDist := "", 3
	if len(key) <= 4 {
		bestDist = 2
	}
	for _, name := range names {
		if _, ok := present[name]; ok {
			continue
		}
		if dist := editDistance(strings.ToLower(key), name); dist < bestDist {
			best, bestDist = name, dist
		}
	}
	return best
}

// editDistance is the Damerau-Levenshtein (optimal string alignment)
// distance between a and b, counting a swap of adjacent bytes as one edit.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
