package records

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"math"
	"time"
)

// DocID is the id of the document made from one line of one version of an
// object: the same line of the same upload always gets the same id, so a
// redelivered S3 event rewrites rather than duplicates. version is the
// object's ETag or version id. It is 32 hex digits (128 bits of SHA-256):
// short enough for an index, and unlike "tenant/key@etag#line" never too
// long whatever the object key.
func DocID(tenant, object, version string, line int) string {
	h := sha256.New()
	writeField(h, 'd', tenant)
	writeField(h, 's', object)
	writeField(h, 's', version)
	writeField(h, 'i', fmt.Sprint(line))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// KeyID is the id of the document with the given business-key values
// (Record.Key), for writes that must be idempotent across files and
// messages. Values are told apart by type as well as text, so the string
// "1" and the int 1 give different ids.
func KeyID(tenant string, values ...any) string {
	h := sha256.New()
	writeField(h, 'k', tenant)
	for _, v := range values {
		switch v := v.(type) {
		case nil:
			writeField(h, 'n', "")
		case string:
			writeField(h, 's', v)
		case int64:
			writeField(h, 'i', fmt.Sprint(v))
		case int:
			writeField(h, 'i', fmt.Sprint(v))
		case float64:
			writeField(h, 'f', fmt.Sprint(math.Float64bits(v)))
		case bool:
			writeField(h, 'b', fmt.Sprint(v))
		case time.Time:
			writeField(h, 't', v.UTC().Format(time.RFC3339Nano))
		default:
			writeField(h, 'v', fmt.Sprintf("%T:%v", v, v))
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// writeField writes a tagged, length-prefixed field, so that no two lists
// of values hash the same input ("a/b","c" versus "a","b/c").
func writeField(h hash.Hash, tag byte, s string) {
	var n [9]byte
	n[0] = tag
	binary.BigEndian.PutUint64(n[1:], uint64(len(s)))
	h.Write(n[:])
	h.Write([]byte(s))
}
