package quality

import (
	"encoding/binary"
	"math"
	"reflect"
	"strconv"
	"time"
)

// Values are read as the platform stores them (string, int64, float64,
// bool, time.Time, nil) and as a driver may hand them back (int32,
// bson.DateTime). A date still stored as an ISO string
// ("2020-03-01" or RFC 3339) is read as a date where a date is wanted.

// missing reports whether v holds no value: absent, null or "".
func missing(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	}
	// A driver's null types (bson.Null, bson.Undefined: empty structs),
	// known by shape so that the package links no driver.
	t := reflect.TypeOf(v)
	return t.Kind() == reflect.Struct && t.NumField() == 0 && (t.Name() == "Null" || t.Name() == "Undefined")
}

func asNumber(v any) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case float64:
		return v, true
	case int32:
		return float64(v), true
	case int:
		return float64(v), true
	case float32:
		return float64(v), true
	case int8:
		return float64(v), true
	case int16:
		return float64(v), true
	case uint8:
		return float64(v), true
	case uint16:
		return float64(v), true
	case uint32:
		return float64(v), true
	case uint64:
		return float64(v), true
	case uint:
		return float64(v), true
	}
	return 0, false
}

func asTime(v any) (time.Time, bool) {
	switch v := v.(type) {
	case time.Time:
		return v, true
	case interface{ Time() time.Time }: // a driver's date type, e.g. bson.DateTime
		return v.Time(), true
	case string:
		if t, err := time.Parse(time.DateOnly, v); err == nil {
			return t, true
		}
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// show renders a value in a reason, as a tenant would recognise it.
func show(v any) string {
	if missing(v) {
		if s, ok := v.(string); ok && s == "" {
			return `""`
		}
		return "null"
	}
	switch v := v.(type) {
	case string:
		const most = 60
		if len(v) > most {
			return strconv.Quote(v[:most]) + "…"
		}
		return strconv.Quote(v)
	case bool:
		return strconv.FormatBool(v)
	}
	if f, ok := asNumber(v); ok {
		return showNumber(f)
	}
	if t, ok := asTime(v); ok {
		return showTime(t)
	}
	return "a value of type " + typeName(v)
}

// showNumber writes numbers as a spreadsheet would, 1000000.5 rather than
// 1.0000005e+06, keeping exponents for the very large and very small.
func showNumber(f float64) string {
	if a := math.Abs(f); a == 0 || a >= 1e-4 && a < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func showTime(t time.Time) string {
	t = t.UTC()
	if t.Equal(t.Truncate(day)) {
		return t.Format(time.DateOnly)
	}
	return t.Format(time.RFC3339Nano)
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "bool"
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Map:
		return "document"
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Struct { // bson.D's key-value pairs
			return "document"
		}
		return "array"
	}
	if _, ok := asNumber(v); ok {
		return "number"
	}
	if _, ok := asTime(v); ok {
		return "date"
	}
	return "unknown"
}

// appendKey appends a canonical encoding of v, read as kind k, for hashing:
// equal values encode alike whatever Go type holds them (int64 3 and
// float64 3.0; a time.Time and the bson.DateTime of the same instant), and
// encodings are self-delimiting so that a composite key's parts do not run
// into each other.
func appendKey(buf []byte, v any, k Kind) []byte {
	if missing(v) {
		return append(buf, 'n')
	}
	switch k {
	case KindNumber:
		if f, ok := asNumber(v); ok {
			if f == math.Trunc(f) && math.Abs(f) < 1<<63 {
				return binary.LittleEndian.AppendUint64(append(buf, 'i'), uint64(int64(f)))
			}
			return binary.LittleEndian.AppendUint64(append(buf, 'f'), math.Float64bits(f))
		}
	case KindTime:
		if t, ok := asTime(v); ok {
			return binary.LittleEndian.AppendUint64(append(buf, 't'), uint64(t.UnixNano()))
		}
	}
	switch v := v.(type) {
	case string:
		buf = binary.AppendUvarint(append(buf, 's'), uint64(len(v)))
		return append(buf, v...)
	case bool:
		if v {
			return append(buf, 'b', 1)
		}
		return append(buf, 'b', 0)
	}
	s := show(v)
	buf = binary.AppendUvarint(append(buf, 'x'), uint64(len(s)))
	return append(buf, s...)
}
