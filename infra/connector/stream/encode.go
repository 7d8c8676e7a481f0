package stream

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// appendBatch appends the JSON of contract.Batch{Tenant: tenant, Records:
// recs} to dst, as json.Marshal would write it, without reflection: the
// body is built once per batch for every record, and the generic encoder
// spent more per record than the rest of the connector's bookkeeping.
// With rawJSON (the function asked for contract.RecordEncodingJSON), a
// payload that is one JSON object goes as "json" (as published, not
// base64); any other payload, and every payload without rawJSON, as "data".
func appendBatch(dst []byte, tenant string, recs []*streamRec, rawJSON bool) []byte {
	dst = append(dst, `{"tenant":`...)
	dst = appendString(dst, tenant)
	dst = append(dst, `,"records":[`...)
	for i, r := range recs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendRecord(dst, r.id, r.msg.Subject(), r.msg.Headers(), r.msg.Data(), r.meta.Timestamp, rawJSON)
	}
	return append(dst, "]}"...)
}

// appendRecord appends one contract.Record's JSON.
func appendRecord(dst []byte, id, subject string, headers map[string][]string, data []byte, at time.Time, rawJSON bool) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, id)
	dst = append(dst, `,"subject":`...)
	dst = appendString(dst, subject)
	dst = append(dst, `,"headers":`...)
	dst = appendHeaders(dst, headers)
	if rawJSON && isJSONObject(data) {
		dst = append(dst, `,"json":`...)
		dst = append(dst, data...)
	} else {
		dst = append(dst, `,"data":`...)
		dst = appendBase64(dst, data)
	}
	dst = append(dst, `,"published_at":"`...)
	dst = at.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, `"}`...)
}

// isJSONObject reports whether b is exactly one valid JSON object (with
// whitespace around it, if any), which may be embedded in the batch as is.
func isJSONObject(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && json.Valid(b)
}

// appendHeaders writes the headers as a JSON object of string arrays,
// keys sorted (as encoding/json writes maps); none is {}.
func appendHeaders(dst []byte, h map[string][]string) []byte {
	dst = append(dst, '{')
	write := func(k string, vs []string) {
		dst = appendString(dst, k)
		dst = append(dst, ':')
		if vs == nil {
			dst = append(dst, "null"...)
			return
		}
		dst = append(dst, '[')
		for j, v := range vs {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, v)
		}
		dst = append(dst, ']')
	}
	if len(h) == 1 {
		for k, vs := range h {
			write(k, vs)
		}
	} else {
		for i, k := range slices.Sorted(maps.Keys(h)) {
			if i > 0 {
				dst = append(dst, ',')
			}
			write(k, h[k])
		}
	}
	return append(dst, '}')
}

// appendBase64 writes data as a []byte field: base64 in a string, null
// when nil.
func appendBase64(dst []byte, data []byte) []byte {
	if data == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, data)
	return append(dst, '"')
}

// appendString writes s as a JSON string. Ids, subjects and headers are
// nearly always plain ASCII, copied as they are; anything else goes
// through encoding/json, which escapes it and replaces invalid UTF-8.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// recordEncodingJSON reads the function's record-encoding annotation:
// true for contract.RecordEncodingJSON; anything but that or
// contract.RecordEncodingBase64 is reported in problems and means base64.
func recordEncodingJSON(ann map[string]string, problems *[]string) bool {
	v, ok := ann[contract.AnnotationRecordEncoding]
	if !ok {
		return false
	}
	switch v = strings.TrimSpace(v); v {
	case contract.RecordEncodingJSON:
		return true
	case contract.RecordEncodingBase64, "":
		return false
	}
	*problems = append(*problems, fmt.Sprintf("%s=%q is neither %s nor %s; using %s", contract.AnnotationRecordEncoding, v,
		contract.RecordEncodingJSON, contract.RecordEncodingBase64, contract.RecordEncodingBase64))
	return false
}
