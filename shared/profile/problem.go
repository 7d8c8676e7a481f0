package profile

import "fmt"

// Problem is one thing wrong with a profile. Parse, Load and Validate return
// every problem they find joined with errors.Join; use errors.As to get at
// them one by one.
type Problem struct {
	Source string // the file, when known
	Line   int    // 1-based, when known
	Path   string // the field path, e.g. "sink.schema[2].type"
	Msg    string
}

func (p *Problem) Error() string {
	where := p.Source
	if p.Line > 0 {
		where = fmt.Sprintf("%s:%d", where, p.Line)
	}
	switch {
	case where != "" && p.Path != "":
		return where + ": " + p.Path + ": " + p.Msg
	case where != "":
		return where + ": " + p.Msg
	case p.Path != "":
		return p.Path + ": " + p.Msg
	}
	return p.Msg
}
