package config

import (
	"log/slog"

	"go.yaml.in/yaml/v3"
)

// String returns the configuration as YAML with every Secret shown as
// "[redacted]", safe to log or display. Defaults appear filled in.
func (c *Config) String() string {
	b, err := yaml.Marshal(c)
	if err != nil {
		return "config: cannot render: " + err.Error()
	}
	return string(b)
}

// LogValue implements slog.LogValuer: the configuration as nested groups
// (one per section, lists as values), with every Secret redacted.
func (c *Config) LogValue() slog.Value {
	var n yaml.Node
	if err := n.Encode(c); err != nil {
		return slog.StringValue("config: cannot render: " + err.Error())
	}
	return nodeLogValue(&n)
}

// nodeLogValue converts a YAML node tree to a slog value: mappings become
// groups so that handlers print them as nested keys; lists and scalars
// become plain Go values.
func nodeLogValue(n *yaml.Node) slog.Value {
	if n.Kind == yaml.MappingNode {
		attrs := make([]slog.Attr, 0, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			attrs = append(attrs, slog.Attr{Key: n.Content[i].Value, Value: nodeLogValue(n.Content[i+1])})
		}
		return slog.GroupValue(attrs...)
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return slog.StringValue("?")
	}
	return slog.AnyValue(v)
}
