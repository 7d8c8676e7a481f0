package profile

import (
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	good := []struct {
		in   string
		want Size
		str  string
	}{
		{"4GB", 4_000_000_000, "4GB"},
		{"400MB", 400_000_000, "400MB"},
		{"512MiB", 512 << 20, "512MiB"},
		{"10 KiB", 10 << 10, "10KiB"},
		{"1.5GB", 1_500_000_000, "1500MB"},
		{"1024", 1024, "1KiB"},
		{"0", 0, "0B"},
		{"7B", 7, "7B"},
		{"1kB", 1000, "1kB"},
	}
	for _, tt := range good {
		got, err := ParseSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			continue
		}
		if got.String() != tt.str {
			t.Errorf("Size(%d).String() = %q, want %q", got, got.String(), tt.str)
		}
		if back, err := ParseSize(got.String()); err != nil || back != got {
			t.Errorf("round trip of %q: %d, %v", got.String(), back, err)
		}
	}
	bad := map[string]string{
		"4GBB":                    "is not a size",
		"-1MB":                    "negative",
		"4 G":                     "is not a size",
		"4  GB":                   "is not a size",
		"GB":                      "is not a size",
		"":                        "is not a size",
		"4gb":                     "is not a size",
		"1.5B":                    "whole number of bytes",
		"1.":                      "is not a size",
		".5GB":                    "is not a size",
		"1.2.3GB":                 "is not a size",
		"99999999999999999999":    "too large",
		"9999999999PiB":           "too large",
		"4GB ":                    "is not a size",
		"0x10":                    "is not a size",
		"1e9":                     "is not a size",
		"+4GB":                    "is not a size",
		"4 GB extra":              "is not a size",
		"9223372036854775807.5KB": "too large",
	}
	for in, want := range bad {
		_, err := ParseSize(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSize(%q) error = %v, want it to contain %q", in, err, want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	if d, err := ParseDuration("5s"); err != nil || d.D() != 5*time.Second {
		t.Errorf("ParseDuration(5s) = %v, %v", d, err)
	}
	for _, in := range []string{"5", "-1s", "five seconds", ""} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", in)
		}
	}
}
