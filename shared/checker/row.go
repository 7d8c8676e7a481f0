package checker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// Row is the document doc, from line, as a checker receives it
// (contract.CheckRow): a plain JSON object in doc's field order, dates
// as RFC 3339 strings in UTC. A value JSON cannot hold (a NaN or an
// infinite number) is an error: the platform never stores one.
func Row(line int, doc bson.D) (contract.CheckRow, error) {
	var b bytes.Buffer
	if err := writeDoc(&b, doc); err != nil {
		return contract.CheckRow{}, fmt.Errorf("line %d: %w", line, err)
	}
	return contract.CheckRow{Line: line, Doc: b.Bytes()}, nil
}

func writeDoc(b *bytes.Buffer, doc bson.D) error {
	b.WriteByte('{')
	for i, e := range doc {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.Key)
		b.Write(k)
		b.WriteByte(':')
		if err := writeValue(b, e.Value); err != nil {
			return fmt.Errorf("field %s: %w", e.Key, err)
		}
	}
	b.WriteByte('}')
	return nil
}

func writeValue(b *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case bson.D:
		return writeDoc(b, v)
	case bson.A:
		return writeArray(b, v)
	case []any:
		return writeArray(b, v)
	case time.Time:
		return writeJSON(b, v.UTC().Format(time.RFC3339Nano))
	case bson.DateTime:
		return writeJSON(b, v.Time().UTC().Format(time.RFC3339Nano))
	case bson.ObjectID:
		return writeJSON(b, v.Hex())
	case bson.Decimal128:
		return writeJSON(b, v.String())
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%v has no JSON form", v)
		}
	case float32:
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%v has no JSON form", v)
		}
	}
	return writeJSON(b, v)
}

func writeArray(b *bytes.Buffer, a []any) error {
	b.WriteByte('[')
	for i, v := range a {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := writeValue(b, v); err != nil {
			return fmt.Errorf("element %d: %w", i, err)
		}
	}
	b.WriteByte(']')
	return nil
}

func writeJSON(b *bytes.Buffer, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b.Write(raw)
	return nil
}
