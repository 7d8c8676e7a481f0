package lambdabuild

import (
	"archive/zip"
	"bytes"
	"context"
	"debug/elf"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// echo is the smallest function: building it for both architectures checks
// the packaging without compiling the platform's dependencies twice more.
func TestBuildPackagesBootstrapPerArch(t *testing.T) {
	out := t.TempDir()
	arts, err := Build(context.Background(), Options{Root: "../../..", Functions: []string{"echo"}, Archs: []string{"amd64", "arm64"}, OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != 2 {
		t.Fatalf("artifacts = %+v, want echo for two archs", arts)
	}
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for _, a := range arts {
		if want := filepath.Join(out, a.Arch, "echo.zip"); a.Zip != want {
			t.Errorf("zip at %s, want %s", a.Zip, want)
		}
		zr, err := zip.OpenReader(a.Zip)
		if err != nil {
			t.Fatal(err)
		}
		if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" || zr.File[0].Mode().Perm() != 0o755 {
			t.Fatalf("%s holds %v, want one executable bootstrap", a.Zip, names(zr.File))
		}
		rc, err := zr.File[0].Open()
		if err != nil {
			t.Fatal(err)
		}
		exe, err := io.ReadAll(rc)
		rc.Close()
		zr.Close()
		if err != nil {
			t.Fatal(err)
		}
		f, err := elf.NewFile(bytes.NewReader(exe))
		if err != nil {
			t.Fatalf("%s: bootstrap is not an ELF executable: %v", a.Zip, err)
		}
		if f.Machine != machine[a.Arch] || f.Type != elf.ET_EXEC {
			t.Errorf("%s: bootstrap is %v %v, want a static %v executable", a.Zip, f.Machine, f.Type, machine[a.Arch])
		}
		// Static: no interpreter, so provided.al2023 needs nothing else.
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s: bootstrap is dynamically linked", a.Zip)
			}
		}
		onDisk, err := os.ReadFile(a.Bootstrap)
		if err != nil || !bytes.Equal(onDisk, exe) {
			t.Errorf("%s differs from the zipped bootstrap (%v)", a.Bootstrap, err)
		}
	}
	// Rebuilding unchanged code gives the same zip: CloudFormation sees no change.
	first, _ := os.ReadFile(arts[0].Zip)
	if _, err := Build(context.Background(), Options{Root: "../../..", Functions: []string{"echo"}, Archs: []string{"amd64"}, OutDir: out}); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(arts[0].Zip); !bytes.Equal(first, again) {
		t.Error("rebuilding the same code changed the zip")
	}
}

func TestBuildRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"no functions", Options{Root: "../../..", Archs: []string{"amd64"}}, "no functions to build"},
		{"unknown arch", Options{Root: "../../..", Functions: []string{"echo"}, Archs: []string{"386"}}, `architecture "386": Lambda runs amd64 (x86_64) and arm64`},
		{"path as function", Options{Root: "../../..", Functions: []string{"../infra"}, Archs: []string{"amd64"}}, `function "../infra": name a folder under functions/`},
		{"missing function", Options{Root: "../../..", Functions: []string{"nope"}, Archs: []string{"amd64"}, OutDir: t.TempDir()}, "function nope: handler"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(context.Background(), tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func names(fs []*zip.File) []string {
	var n []string
	for _, f := range fs {
		n = append(n, f.Name+" "+f.Mode().String())
	}
	return n
}
