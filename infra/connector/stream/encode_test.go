package stream

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// TestAppendRecord checks the hand-written encoder against encoding/json:
// without raw JSON a record decodes exactly as json.Marshal's encoding of
// it does (the contract tenants' own apps read); with it, a JSON object
// payload comes as "json", byte for byte, and anything else as "data".
func TestAppendRecord(t *testing.T) {
	at := time.Date(2020, 7, 6, 10, 0, 0, 123456789, time.FixedZone("CEST", 2*3600))
	for _, tc := range []struct {
		name    string
		id      string
		subject string
		headers map[string][]string
		data    []byte
		// asJSON: with raw JSON asked for, the payload goes as "json".
		asJSON bool
	}{
		{"object", "ingest-t1:1", "ingest.t1.covid", map[string][]string{"Nats-Msg-Id": {"abc"}}, []byte(`{"a":1,"b":"x"}`), true},
		{"object with spaces and html", "id-2", "ingest.t1.covid", nil, []byte(" \n{\"a\": \"<b>&</b>\", \"u\": \"é\\u00e9\"}\t"), true},
		{"nested object", "id-3", "ingest.t1.x", map[string][]string{}, []byte(`{"a":{"b":[1,2,{"c":null}]}}`), true},
		{"array", "id-4", "ingest.t1.x", nil, []byte(`[{"a":1}]`), false},
		{"string", "id-5", "ingest.t1.x", nil, []byte(`"s"`), false},
		{"number", "id-6", "ingest.t1.x", nil, []byte(`42`), false},
		{"not JSON", "id-7", "ingest.t1.x", nil, []byte(`n`), false},
		{"cut object", "id-8", "ingest.t1.x", nil, []byte(`{"a":`), false},
		{"two objects", "id-9", "ingest.t1.x", nil, []byte(`{"a":1}{"b":2}`), false},
		{"binary", "id-10", "ingest.t1.x", nil, []byte{0, 1, 2, 0xff, '"'}, false},
		{"empty", "id-11", "ingest.t1.x", nil, []byte{}, false},
		{"nil", "id-12", "ingest.t1.x", nil, nil, false},
		{"escapes in id and headers", "id \"q\"\\\n\x01é", "ingest.t1.x",
			map[string][]string{"B": {"2", "ü"}, "A": {"<&>"}, "C": nil, "D": {}}, []byte(`{}`), true},
		{"invalid UTF-8 in a header", "id-14", "ingest.t1.x", map[string][]string{"X": {"a\xffb"}}, []byte(`{"a":"\u00ff"}`), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := contract.Record{ID: tc.id, Subject: tc.subject, Headers: tc.headers, Data: tc.data, PublishedAt: at.UTC()}
			if want.Headers == nil {
				want.Headers = map[string][]string{} // the connector sends {} for none
			}
			ref, err := json.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			var fromRef contract.Record
			if err := json.Unmarshal(ref, &fromRef); err != nil {
				t.Fatal(err)
			}
			for _, rawJSON := range []bool{false, true} {
				b := appendRecord(nil, tc.id, tc.subject, tc.headers, tc.data, at, rawJSON)
				if !json.Valid(b) {
					t.Fatalf("raw JSON %t: invalid JSON %s", rawJSON, b)
				}
				var got contract.Record
				if err := json.Unmarshal(b, &got); err != nil {
					t.Fatalf("raw JSON %t: %v in %s", rawJSON, err, b)
				}
				if rawJSON && tc.asJSON {
					// As published, less the whitespace around it.
					pub := bytes.TrimSpace(tc.data)
					if !bytes.Equal(got.JSON, pub) || got.Data != nil {
						t.Errorf("raw JSON: json = %q, data = %q; want json %q as published, no data", got.JSON, got.Data, pub)
					}
					if !bytes.Equal(got.Payload(), pub) {
						t.Errorf("Payload() = %q, want %q", got.Payload(), pub)
					}
					got.JSON, got.Data = nil, fromRef.Data
				}
				if !reflect.DeepEqual(got, fromRef) {
					t.Errorf("raw JSON %t: decoded\n %#v\nwant (as json.Marshal's)\n %#v\nfrom %s", rawJSON, got, fromRef, b)
				}
			}
		})
	}
}

func TestAppendBatchIsABatch(t *testing.T) {
	b := appendBatch(nil, "tenant \"1\"", nil, true)
	var got contract.Batch
	if err := json.Unmarshal(b, &got); err != nil || got.Tenant != "tenant \"1\"" || got.Records == nil || len(got.Records) != 0 {
		t.Errorf("empty batch %s decoded as %+v, %v", b, got, err)
	}
}

func TestRecordEncodingAnnotation(t *testing.T) {
	for _, tc := range []struct {
		ann      map[string]string
		want     bool
		problems int
	}{
		{nil, false, 0},
		{map[string]string{contract.AnnotationRecordEncoding: contract.RecordEncodingJSON}, true, 0},
		{map[string]string{contract.AnnotationRecordEncoding: " " + contract.RecordEncodingJSON + " "}, true, 0},
		{map[string]string{contract.AnnotationRecordEncoding: contract.RecordEncodingBase64}, false, 0},
		{map[string]string{contract.AnnotationRecordEncoding: "xml"}, false, 1},
	} {
		var problems []string
		if got := recordEncodingJSON(tc.ann, &problems); got != tc.want || len(problems) != tc.problems {
			t.Errorf("%v: raw JSON %t, problems %q; want %t and %d problems", tc.ann, got, problems, tc.want, tc.problems)
		}
	}
}
