package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

// The README's Go quickstart is this file's main; running it keeps the README honest.
func TestQuickstart(t *testing.T) {
	if os.Getenv("ARTIMETA_TARGET") == "" {
		t.Skip("ARTIMETA_TARGET is not set: the quickstart needs a live server")
	}
	r, w, _ := os.Pipe()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { _, _ = io.Copy(&out, r); close(done) }()
	stdout := os.Stdout
	os.Stdout = w
	main()
	os.Stdout = stdout
	w.Close()
	<-done
	if !strings.Contains(out.String(), "NAMESPACE_NOT_FOUND") {
		t.Fatalf("quickstart printed:\n%s", out.String())
	}
}
