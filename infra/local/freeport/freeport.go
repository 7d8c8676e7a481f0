// Package freeport finds TCP ports that nothing listens on, for the parts
// that must be told a port up front (a MinIO child process, a function
// replica) rather than binding port 0 themselves.
package freeport

import (
	"fmt"
	"net"
)

// Get returns a port on 127.0.0.1 that was free a moment ago. Another
// process may take it before the caller binds it; callers that start a
// child process on it must treat "address in use" as retryable.
func Get() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// MustGet is Get for tests and start-up code where no port at all means
// the machine is unusable.
func MustGet() int {
	p, err := Get()
	if err != nil {
		panic(err)
	}
	return p
}
