// Command handler is the entry point of a function built from the
// golang-mysimbdp template. It exists only inside a build context laid out
// like `faas-cli build --shrinkwrap` does: this file at the root, the
// function's package (and the repo's go.mod and shared/) under function/.
package main

import (
	function "github.com/mysimbdp/mysimbdp"

	"github.com/mysimbdp/mysimbdp/shared/fnrun"
)

func main() {
	fnrun.Main(function.Handle)
}
