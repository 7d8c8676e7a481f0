package console

import (
	"bytes"
	"crypto/rand"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is where the console is served on the gateway's address.
const Prefix = "/ui/"

// New returns the console's handler for every path under Prefix. The
// caller puts it behind the gateway's basic auth.
func New(d Deps) (http.Handler, error) {
	d, err := d.withDefaults()
	if err != nil {
		return nil, err
	}
	p, err := newPages(d.CSRFKey)
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("console: static files: %w", err)
	}
	guard := p.guard
	mux := http.NewServeMux()
	mux.Handle("GET "+Prefix+"{$}", MakeOverviewHandler(d, p))
	mux.Handle("GET "+Prefix+"file", MakeFileHandler(d, p))
	mux.Handle("GET "+Prefix+"deadletter", MakeLetterHandler(d, p))
	mux.Handle("POST "+Prefix+"pause", guard(MakePauseHandler(d, true)))
	mux.Handle("POST "+Prefix+"resume", guard(MakePauseHandler(d, false)))
	mux.Handle("POST "+Prefix+"deadletter/replay", guard(MakeReplayHandler(d)))
	mux.Handle("POST "+Prefix+"deadletter/purge", guard(MakePurgeHandler(d)))
	mux.Handle("GET "+Prefix+"static/", MakeStaticHandler(static))
	return mux, nil
}

// pages renders the templates; csrfKey signs the forms' tokens (Deps's,
// else random per process: a restart only makes open pages submit once
// more).
type pages struct {
	tpl     map[string]*template.Template
	csrfKey []byte
}

// page is what every template gets.
type page struct {
	Title string
	CSRF  string
	// Flash is the outcome of the last action, from the redirect.
	Flash string
	Error bool
}

var funcs = template.FuncMap{
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return time.Since(t).Round(time.Second).String() + " ago"
	},
	"clock": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Local().Format("15:04:05")
	},
	"bytes": func(v int64) string { return bytesText(float64(v)) },
}

func newPages(csrfKey []byte) (*pages, error) {
	p := &pages{tpl: map[string]*template.Template{}, csrfKey: csrfKey}
	if len(p.csrfKey) == 0 {
		p.csrfKey = make([]byte, 32)
		if _, err := rand.Read(p.csrfKey); err != nil {
			return nil, fmt.Errorf("console: CSRF key: %w", err)
		}
	}
	for _, name := range []string{"overview", "file", "letter"} {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		p.tpl[name] = t
	}
	return p, nil
}

func (p *pages) base(r *http.Request, title string) page {
	q := r.URL.Query()
	return page{Title: title, CSRF: p.token(r), Flash: q.Get("msg"), Error: q.Get("err") != ""}
}

// render writes the page whole or an error: a template that fails midway
// never leaves half a page.
func (p *pages) render(w http.ResponseWriter, name string, v any) {
	var buf bytes.Buffer
	if err := p.tpl[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		http.Error(w, "render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The page runs no script and loads only the platform's own files.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(buf.Bytes())
}
