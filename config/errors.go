package config

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// ErrInvalid is matched (with errors.Is) by every [*ValidationError].
var ErrInvalid = errors.New("config: invalid configuration")

// FieldError is one problem in a configuration.
type FieldError struct {
	// Path is the dotted path of the offending key, with list indexes from
	// 0: "trunks[1].register.expiry". It is empty for problems of the
	// document as a whole.
	Path string
	// Line is the 1-based line of the offending YAML node; for a missing
	// key, the line of the mapping that lacks it. 0 when unknown, as for
	// configurations built in code.
	Line int
	// Msg says what is wrong and, where useful, what is expected. It never
	// contains the value of a Secret.
	Msg string

	// err is the underlying error, if any, for errors.Is and errors.As.
	err error
}

// Error returns "line: path: msg", leaving out the parts that are unknown.
func (e *FieldError) Error() string { return e.format("") }

// Unwrap returns the underlying error, such as [ErrEnvNotSet] or
// [ErrPattern], or nil.
func (e *FieldError) Unwrap() error { return e.err }

func (e *FieldError) format(file string) string {
	var b strings.Builder
	switch {
	case file != "" && e.Line > 0:
		b.WriteString(file + ":" + strconv.Itoa(e.Line) + ": ")
	case file != "":
		b.WriteString(file + ": ")
	case e.Line > 0:
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ValidationError is every problem found in one configuration, returned by
// [Load], [Parse] and [Config.Validate].
type ValidationError struct {
	// File is the path given to Load, empty for Parse and Validate.
	File string
	// Errors holds at least one problem, sorted by line; problems without
	// a line come last.
	Errors []FieldError
}

// Error returns one problem per line, each as
// "config.yaml:12: trunks[1].register.expiry: must be at least 1m0s".
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Errors))
	for i := range e.Errors {
		lines[i] = e.Errors[i].format(e.File)
	}
	return strings.Join(lines, "\n")
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Unwrap returns each problem as a *FieldError, so errors.As and errors.Is
// reach them.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Errors))
	for i := range e.Errors {
		errs[i] = &e.Errors[i]
	}
	return errs
}

// problems collects FieldErrors, filling in lines from the decoded
// document.
type problems struct {
	lines map[string]int
	list  []FieldError
}

// add records a problem at path, with the line of path or of its nearest
// ancestor that has one.
func (p *problems) add(path, msg string) {
	p.list = append(p.list, FieldError{Path: path, Line: lineOf(p.lines, path), Msg: msg})
}

// result returns nil or a *ValidationError with the problems sorted.
func (p *problems) result(file string) error {
	if len(p.list) == 0 {
		return nil
	}
	sortErrors(p.list)
	return &ValidationError{File: file, Errors: p.list}
}

// sortErrors orders problems by line, those without a line last, keeping
// the order of discovery otherwise.
func sortErrors(errs []FieldError) {
	key := func(e FieldError) int {
		if e.Line == 0 {
			return int(^uint(0) >> 1)
		}
		return e.Line
	}
	slices.SortStableFunc(errs, func(a, b FieldError) int { return cmp.Compare(key(a), key(b)) })
}

// lineOf returns the line recorded for path or for its nearest ancestor,
// or 0.
func lineOf(lines map[string]int, path string) int {
	for path != "" {
		if l, ok := lines[path]; ok {
			return l
		}
		path = parentPath(path)
	}
	return 0
}

// parentPath returns the path of the enclosing mapping or list:
// "a.b[2]" -> "a.b", "a.b" -> "a", "a" -> "".
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// within reports whether path is p itself or lies inside it.
func within(path, p string) bool {
	if !strings.HasPrefix(path, p) {
		return false
	}
	rest := path[len(p):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}
