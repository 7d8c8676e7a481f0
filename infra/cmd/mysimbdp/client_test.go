package main

import (
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestParseTakesFlagsAnywhere(t *testing.T) {
	tests := []struct {
		args    []string
		want    []string
		tail    int
		wantErr string
	}{
		{args: []string{"echo"}, want: []string{"echo"}, tail: -1},
		{args: []string{"--tail", "5", "echo"}, want: []string{"echo"}, tail: 5},
		{args: []string{"echo", "--tail", "5"}, want: []string{"echo"}, tail: 5},
		{args: []string{}, wantErr: "want arguments [NAME], got 0"},
		{args: []string{"a", "b"}, wantErr: "want arguments [NAME], got 2"},
		{args: []string{"echo", "--nope"}, wantErr: "flag provided but not defined: -nope"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			fs := flag.NewFlagSet("logs", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			tail := fs.Int("tail", -1, "")
			got, err := parse(fs, tt.args, "NAME")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) || *tail != tt.tail {
				t.Fatalf("parse = %v, %v, tail %d; want %v, tail %d", got, err, *tail, tt.want, tt.tail)
			}
		})
	}
}
