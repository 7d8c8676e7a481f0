package control

import (
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/quota"
)

func TestPauseBoard(t *testing.T) {
	b := newBoard()
	p, ch := b.State("t")
	if p {
		t.Fatal("paused at start")
	}
	if !b.set("t", true) || b.set("t", true) {
		t.Error("set reports changes wrongly")
	}
	select {
	case <-ch:
	default:
		t.Fatal("change not signalled")
	}
	if p, _ := b.State("t"); !p || b.count() != 1 {
		t.Error("not paused")
	}
	changed := b.replace(map[string]bool{"u": true})
	if len(changed) != 2 || changed["t"] || !changed["u"] || b.count() != 1 {
		t.Errorf("replace changed %v", changed)
	}
	for v, want := range map[string]bool{"true": true, " TRUE\n": true, "false": false, "yes": false, "": false} {
		if pausedValue([]byte(v)) != want {
			t.Errorf("pausedValue(%q) != %v", v, want)
		}
	}
	if _, err := pausedKey("a.b"); err == nil {
		t.Error("dotted tenant accepted")
	}
}

func TestPauseBoardQuota(t *testing.T) {
	b := newBoard()
	defer b.stop()
	held, ch := b.State("t")
	if held {
		t.Fatal("held at start")
	}
	until := time.Now().Add(300 * time.Millisecond)
	if !b.setDecision("t", quota.Decision{Tenant: "t", State: quota.Throttled, Until: until, Reason: "over"}) {
		t.Fatal("throttle not reported as a change")
	}
	<-ch // signalled by the decision
	held, ch = b.State("t")
	if d, holds := b.Decision("t"); !held || !holds || d.Reason != "over" {
		t.Fatalf("throttled tenant: held %v, decision %+v %v", held, d, holds)
	}
	if other, _ := b.State("u"); other {
		t.Error("another tenant is held")
	}
	select { // the throttle runs out by itself
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("end of the throttle not signalled")
	}
	if held, _ := b.State("t"); held || time.Now().Before(until) {
		t.Errorf("held %v after the throttle's end", held)
	}
	b.setDecision("t", quota.Decision{Tenant: "t", State: quota.Blocked, Reason: "storage"})
	if held, _ := b.State("t"); !held {
		t.Error("a block without end does not hold")
	}
	if changed := b.replaceDecisions(map[string]quota.Decision{}); len(changed) != 1 {
		t.Errorf("replace with none changed %v", changed)
	}
	if held, _ := b.State("t"); held {
		t.Error("held after its decision was deleted")
	}
}
