// The template's own module: main.go lives here, the function (with the
// repo's go.mod, copied in by configuration.copy) lives in ./function, and
// go.work joins the two. Outside a build context this folder is not built.
module handler

go 1.26.8
