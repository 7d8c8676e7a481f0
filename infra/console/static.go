package console

import (
	"io/fs"
	"net/http"
)

// MakeStaticHandler serves the console's own style sheet under
// /ui/static/ from the binary: the page loads nothing from elsewhere.
func MakeStaticHandler(static fs.FS) http.Handler {
	files := http.StripPrefix(Prefix+"static/", http.FileServerFS(static))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		files.ServeHTTP(w, r)
	})
}
