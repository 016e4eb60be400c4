package artimeta_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/artimeta/artimeta/client/go/artimeta"
	v1 "github.com/artimeta/artimeta/client/go/artimeta/v1"
	"google.golang.org/protobuf/proto"
)

// The connection fixture, computed by the same formulas in every language (tests/clients/conformance.py).
const (
	graphName     = "conformance/graph ✓"
	graphFP       = int64(-8070450532247928833)
	docFormat     = "application/x-conformance"
	snapFP        = int64(9223372036854775807)
	snapID        = int64(-1)
	tagName       = "prod"
	artifactKey   = "data"
	storageFP     = int64(1234567890123456789)
	nPartitions   = 10_000
	partitionType = "arti.storage.local:LocalFilePartition"
)

var (
	graphCodeRefs = []string{"conformance.graph:Graph", "ünï.mod:Thing"}
	snapDoc       = []byte("\x00\xffsnapshot\n")
	snapCodeRefs  = []string{"conformance.snapshot:Snapshot"}
	pageFPs       = []int64{-3, -1, 0, 2, 5}
)

func graphDoc() []byte {
	doc := make([]byte, 6000)
	for i := range doc {
		doc[i] = byte((i*7 + 3) % 256)
	}
	return doc
}

func partition(i int) *v1.StoragePartition {
	p := &v1.StoragePartition{
		Keys: &v1.CompositeKey{Keys: map[string]*v1.PartitionKey{
			"id":     {Key: &v1.PartitionKey_Int64Key{Int64Key: int64(i)*1_000_003 - 5_000_000_000}},
			"bucket": {Key: &v1.PartitionKey_Int8Key{Int8Key: int32(i%256 - 128)}},
			"day":    {Key: &v1.PartitionKey_DateKey{DateKey: &v1.CalendarDate{Year: int32(2000 + i%30), Month: int32(1 + i%12), Day: int32(1 + i%28)}}},
			"none":   {Key: &v1.PartitionKey_NullKey{NullKey: &v1.NullPartitionKey{}}},
		}},
		ContentFingerprint: proto.Int64(-int64(i+1) * 1_099_511_627_777),
		Type:               partitionType,
		Fields:             []byte(fmt.Sprintf(`{"path":"/conformance/part-%05d","size":%d}`, i, i)),
	}
	if i%2 == 0 {
		p.InputFingerprint = proto.Int64(int64(i) * 2_654_435_761)
	}
	return p
}

func canonical(p *v1.StoragePartition) string {
	names := make([]string, 0, len(p.GetKeys().GetKeys()))
	for n := range p.GetKeys().GetKeys() {
		names = append(names, n)
	}
	sort.Strings(names)
	keys := make([]string, 0, len(names))
	for _, n := range names {
		var v string
		switch k := p.GetKeys().GetKeys()[n].GetKey().(type) {
		case *v1.PartitionKey_DateKey:
			v = fmt.Sprintf("date:%04d-%02d-%02d", k.DateKey.GetYear(), k.DateKey.GetMonth(), k.DateKey.GetDay())
		case *v1.PartitionKey_NullKey:
			v = "null"
		case *v1.PartitionKey_Int8Key:
			v = fmt.Sprintf("int8:%d", k.Int8Key)
		case *v1.PartitionKey_Int16Key:
			v = fmt.Sprintf("int16:%d", k.Int16Key)
		case *v1.PartitionKey_Int32Key:
			v = fmt.Sprintf("int32:%d", k.Int32Key)
		case *v1.PartitionKey_Int64Key:
			v = fmt.Sprintf("int64:%d", k.Int64Key)
		}
		keys = append(keys, n+"="+v)
	}
	opt := func(set bool, v int64) string {
		if !set {
			return "-"
		}
		return fmt.Sprint(v)
	}
	return fmt.Sprintf("%s|%s|%s|%s|%s", strings.Join(keys, ";"),
		opt(p.InputFingerprint != nil, p.GetInputFingerprint()), opt(p.ContentFingerprint != nil, p.GetContentFingerprint()),
		p.GetType(), hex.EncodeToString(p.GetFields()))
}

func expectedPartitions() map[string]bool {
	want := make(map[string]bool, nPartitions)
	for i := range nPartitions {
		want[canonical(partition(i))] = true
	}
	return want
}

func writeConnection(t *testing.T, c *artimeta.Client, ns, actor string) {
	t.Helper()
	ctx := context.Background()
	conn := c.Connection
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(conn.WriteGraph(ctx, &v1.WriteGraphRequest{Namespace: ns, Graph: &v1.Graph{
		Name: graphName, Fingerprint: graphFP, Document: graphDoc(), DocumentFormat: docFormat, CodeRefs: graphCodeRefs}}))
	for _, fp := range pageFPs {
		must(conn.WriteGraph(ctx, &v1.WriteGraphRequest{Namespace: ns, Graph: &v1.Graph{Name: graphName, Fingerprint: fp, Document: []byte("page")}}))
	}
	must(conn.WriteSnapshot(ctx, &v1.WriteSnapshotRequest{Namespace: ns, Snapshot: &v1.GraphSnapshot{
		Name: graphName, Fingerprint: snapFP, Id: snapID, GraphFingerprint: graphFP, Document: snapDoc, DocumentFormat: docFormat, CodeRefs: snapCodeRefs}}))
	must(conn.WriteSnapshotTag(ctx, &v1.WriteSnapshotTagRequest{Namespace: ns, Name: graphName, Tag: tagName, SnapshotFingerprint: snapFP, Actor: actor}))
	parts := make([]*v1.StoragePartition, nPartitions)
	for i := range parts {
		parts[i] = partition(i)
	}
	resp, err := conn.WriteArtifactAndGraphPartitions(ctx, &v1.WriteArtifactAndGraphPartitionsRequest{
		Namespace: ns, Name: graphName, SnapshotFingerprint: snapFP, ArtifactKey: artifactKey, StorageFingerprint: storageFP, Partitions: parts})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetArtifactAddedCount() != nPartitions || resp.GetSnapshotAddedCount() != nPartitions {
		t.Fatalf("added %v", resp)
	}
}

func drain[R interface{ GetPartitions() []*v1.StoragePartition }](t *testing.T, recv func() (R, error)) []string {
	t.Helper()
	var got []string
	for {
		chunk, err := recv()
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range chunk.GetPartitions() {
			got = append(got, canonical(p))
		}
	}
}

func checkPartitions(t *testing.T, got []string, want map[string]bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d partitions, want %d", len(got), len(want))
	}
	for _, g := range got {
		if !want[g] {
			t.Fatalf("unexpected partition %s", g)
		}
	}
}

func checkConnection(t *testing.T, c *artimeta.Client, ns, actor string) {
	t.Helper()
	ctx := context.Background()
	conn := c.Connection
	g, err := conn.ReadGraph(ctx, &v1.ReadGraphRequest{Namespace: ns, Name: graphName, Fingerprint: graphFP})
	if err != nil {
		t.Fatal(err)
	}
	gr := g.GetGraph()
	if gr.GetName() != graphName || gr.GetFingerprint() != graphFP || !bytes.Equal(gr.GetDocument(), graphDoc()) ||
		gr.GetDocumentFormat() != docFormat || !slices.Equal(gr.GetCodeRefs(), graphCodeRefs) || gr.GetDocumentSize() != 6000 {
		t.Fatalf("graph differs: %v", gr.GetName())
	}
	s, err := conn.ReadSnapshot(ctx, &v1.ReadSnapshotRequest{Namespace: ns, Name: graphName, Fingerprint: snapFP})
	if err != nil {
		t.Fatal(err)
	}
	sn := s.GetSnapshot()
	if sn.GetFingerprint() != snapFP || sn.GetId() != snapID || sn.GetGraphFingerprint() != graphFP ||
		!bytes.Equal(sn.GetDocument(), snapDoc) || !slices.Equal(sn.GetCodeRefs(), snapCodeRefs) {
		t.Fatalf("snapshot differs: %v", sn)
	}
	tagged, err := conn.ReadSnapshotTag(ctx, &v1.ReadSnapshotTagRequest{Namespace: ns, Name: graphName, Tag: tagName})
	if err != nil {
		t.Fatal(err)
	}
	if tagged.GetSnapshot().GetFingerprint() != snapFP || !bytes.Equal(tagged.GetSnapshot().GetDocument(), snapDoc) || tagged.GetTag().GetActor() != actor {
		t.Fatalf("tag differs: %v", tagged)
	}

	var listed []int64
	token := ""
	for {
		page, err := conn.ListGraphs(ctx, &v1.ListGraphsRequest{Namespace: ns, Name: graphName, PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.GetGraphs()) > 2 {
			t.Fatalf("page of %d", len(page.GetGraphs()))
		}
		for _, g := range page.GetGraphs() {
			if len(g.GetDocument()) != 0 {
				t.Fatal("list results carry no documents")
			}
			listed = append(listed, g.GetFingerprint())
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	wantFPs := append([]int64{graphFP}, pageFPs...)
	if !slices.Equal(listed, wantFPs) {
		t.Fatalf("listed %v, want %v", listed, wantFPs)
	}

	want := expectedPartitions()
	snapStream, err := conn.ReadSnapshotPartitions(ctx, &v1.ReadSnapshotPartitionsRequest{Namespace: ns, Name: graphName, SnapshotFingerprint: snapFP, ArtifactKey: artifactKey})
	if err != nil {
		t.Fatal(err)
	}
	checkPartitions(t, drain(t, snapStream.Recv), want)
	artStream, err := conn.ReadArtifactPartitions(ctx, &v1.ReadArtifactPartitionsRequest{Namespace: ns, StorageFingerprint: storageFP})
	if err != nil {
		t.Fatal(err)
	}
	checkPartitions(t, drain(t, artStream.Recv), want)
}

func TestConnectionReadsWhatPythonWrote(t *testing.T) {
	c := liveClient(t)
	ns := os.Getenv("ARTIMETA_PY_NAMESPACE")
	if ns == "" {
		t.Skip("ARTIMETA_PY_NAMESPACE is not set")
	}
	checkConnection(t, c, ns, "python")
}

func TestConnectionWritesForPython(t *testing.T) {
	c := liveClient(t)
	ctx := context.Background()
	prefix := os.Getenv("ARTIMETA_WRITE_PREFIX")
	if prefix == "" {
		t.Skip("ARTIMETA_WRITE_PREFIX is not set")
	}
	ns := prefix + "-conn" // left for Python to read back; the harness deletes it
	if _, err := c.CreateNamespace(ctx, ns, artimeta.NamespaceSpec{}); err != nil {
		t.Fatal(err)
	}
	writeConnection(t, c, ns, "go")
	checkConnection(t, c, ns, "go")

	_, err := c.Connection.ReadGraph(ctx, &v1.ReadGraphRequest{Namespace: ns, Name: graphName, Fingerprint: 1})
	wantReason(t, err, artimeta.ErrNotFound, "GRAPH_NOT_FOUND")
	_, err = c.Connection.ReadSnapshotTag(ctx, &v1.ReadSnapshotTagRequest{Namespace: ns, Name: graphName, Tag: "nope"})
	wantReason(t, err, artimeta.ErrNotFound, "TAG_NOT_FOUND")
	_, err = c.Connection.WriteSnapshotTag(ctx, &v1.WriteSnapshotTagRequest{Namespace: ns, Name: graphName, Tag: tagName, SnapshotFingerprint: snapFP})
	wantReason(t, err, artimeta.ErrAlreadyExists, "TAG_EXISTS")
	_, err = c.Connection.ReadGraph(ctx, &v1.ReadGraphRequest{Namespace: ns + "-missing", Name: graphName, Fingerprint: graphFP})
	wantReason(t, err, artimeta.ErrNotFound, "NAMESPACE_NOT_FOUND")
	// A failure inside a server stream surfaces typed too.
	stream, err := c.Connection.ReadArtifactPartitions(ctx, &v1.ReadArtifactPartitionsRequest{Namespace: ns + "-missing", StorageFingerprint: storageFP})
	if err == nil {
		_, err = stream.Recv()
	}
	wantReason(t, err, artimeta.ErrNotFound, "NAMESPACE_NOT_FOUND")
}
