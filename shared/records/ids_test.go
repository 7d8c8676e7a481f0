package records

import "testing"

func TestIDs(t *testing.T) {
	a := DocID("tenant1", "incoming/x.csv", "etag1", 17)
	if len(a) != 32 || a != DocID("tenant1", "incoming/x.csv", "etag1", 17) {
		t.Errorf("DocID not stable: %s", a)
	}
	for _, b := range []string{
		DocID("tenant2", "incoming/x.csv", "etag1", 17),
		DocID("tenant1", "incoming/x.csv", "etag2", 17),
		DocID("tenant1", "incoming/x.csv", "etag1", 18),
		DocID("tenant1", "incoming/x.cs", "vetag1", 17),
	} {
		if a == b {
			t.Errorf("DocID collision: %s", a)
		}
	}
	k := KeyID("tenant1", "AF", "2020-07-06")
	if k != KeyID("tenant1", "AF", "2020-07-06") {
		t.Error("KeyID not stable")
	}
	distinct := []string{
		k,
		KeyID("tenant2", "AF", "2020-07-06"),
		KeyID("tenant1", "AF2020-07-06"),
		KeyID("tenant1", "A", "F2020-07-06"),
		KeyID("tenant1", "1"),
		KeyID("tenant1", int64(1)),
		KeyID("tenant1", nil),
		KeyID("tenant1", ""),
		KeyID("tenant1"),
	}
	seen := map[string]int{}
	for i, id := range distinct {
		if j, dup := seen[id]; dup {
			t.Errorf("KeyID %d and %d collide", j, i)
		}
		seen[id] = i
	}
	if KeyID("t", 1) != KeyID("t", int64(1)) {
		t.Error("int and int64 keys differ")
	}
}
