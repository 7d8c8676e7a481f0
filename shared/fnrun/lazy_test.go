package fnrun

import (
	"errors"
	"testing"
)

func TestLazyRetriesAFailedBuildAndReleases(t *testing.T) {
	builds := 0
	l := NewLazy(func() (int, error) {
		builds++
		if builds == 1 {
			return 0, errors.New("database unreachable")
		}
		return builds, nil
	})
	if _, err := l.Get(); err == nil {
		t.Fatal("first build should fail")
	}
	for range 2 {
		if v, err := l.Get(); err != nil || v != 2 {
			t.Fatalf("Get = %d, %v; want the second build, kept", v, err)
		}
	}
	var released int
	if err := l.Release(func(v int) error { released = v; return nil }); err != nil || released != 2 {
		t.Fatalf("Release gave %d, %v", released, err)
	}
	if v, _ := l.Get(); v != 3 {
		t.Fatalf("after Release, Get = %d, want a new build", v)
	}
}
