package artimeta_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/artimeta/artimeta/client/go/artimeta"
	v1 "github.com/artimeta/artimeta/client/go/artimeta/v1"
	"google.golang.org/protobuf/proto"
)

// The lineage, lists and records fixture (tests/clients/conformance.py holds the same).
const (
	lineageName      = "conformance/lineage ✓"
	lineageFP        = int64(-42)
	smallArtifactKey = "small"
	nSmallPartitions = 5
	recordUUID       = "conformanceR"
)

var (
	executionIDs   = []string{"conformance-exec-0", "conformance-exec-1", "conformance-exec-2", "conformance-exec-3", "conformance-exec-4"}
	opsListed      = []string{"conf/a|2|a.2.x@1.1.0/2.5", "conf/b|1|b.1.ü@1.0.0/3.25", "conf/c|0|-"}
	recordMetadata = map[string]string{"kind": "conformance ✓", "module": "conf.rec"}
	recordFiles    = []struct {
		path string
		data []byte
	}{
		{"a.txt", []byte("alpha\n")},
		{"dir/b.bin", bytes.Repeat(func() []byte {
			b := make([]byte, 256)
			for i := range b {
				b[i] = byte(i)
			}
			return b
		}(), 3)},
		{"dir/ü.txt", []byte("ünï ✓")},
	}
)

func lineage() *v1.GraphLineage {
	in, out := v1.LineageEdgeKind_LINEAGE_EDGE_KIND_INPUT, v1.LineageEdgeKind_LINEAGE_EDGE_KIND_OUTPUT
	return &v1.GraphLineage{
		Artifacts: []*v1.LineageArtifact{
			{Key: "in", ArtifactClass: "conf.art:Int", Type: "Int64", Format: "JSON", Storage: "LocalFile(path='/d/{x}.json')"},
			{Key: "mid ✓", ArtifactClass: "conf.art:Float", Type: "Float64", Format: "JSON", Storage: "LocalFile()"},
			{Key: "out", ArtifactClass: "conf.art:Str", Type: "String", Format: "JSON", Storage: "LocalFile()"},
		},
		Producers: []*v1.LineageProducer{
			{Key: "p1", Name: "div", Qualname: "conf.prod:div", Version: "0.0.1"},
			{Key: "p2 ü", Name: "fmt", Qualname: "conf.prod:fmt", Version: "2"},
		},
		Edges: []*v1.LineageEdge{
			{Kind: in, ArtifactKey: "in", ProducerKey: "p1", InputName: "x"},
			{Kind: out, ArtifactKey: "mid ✓", ProducerKey: "p1", OutputPosition: 0},
			{Kind: in, ArtifactKey: "mid ✓", ProducerKey: "p2 ü", InputName: "y"},
			{Kind: out, ArtifactKey: "out", ProducerKey: "p2 ü", OutputPosition: 1},
		},
	}
}

// recordEntries are in path order, as GetRecord returns them.
func recordEntries() []*v1.RecordEntry {
	var entries []*v1.RecordEntry
	for i, f := range recordFiles {
		entries = append(entries, &v1.RecordEntry{Path: f.path, Kind: v1.RecordEntryKind_RECORD_ENTRY_KIND_FILE, Mode: 0o644,
			Digest: artimeta.DigestOf(f.data), ModifyTimeNs: 1_700_000_000_123_456_789 + int64(i)})
	}
	entries = append(entries,
		&v1.RecordEntry{Path: "empty", Kind: v1.RecordEntryKind_RECORD_ENTRY_KIND_DIRECTORY, Mode: 0o755},
		&v1.RecordEntry{Path: "link", Kind: v1.RecordEntryKind_RECORD_ENTRY_KIND_SYMLINK, Mode: 0o777, LinkTarget: "a.txt"})
	slices.SortFunc(entries, func(a, b *v1.RecordEntry) int { return strings.Compare(a.GetPath(), b.GetPath()) })
	return entries
}

func checkLineage(t *testing.T, c *artimeta.Client, ns string) {
	t.Helper()
	got, err := c.Connection.GetGraphLineage(context.Background(), &v1.GetGraphLineageRequest{Namespace: ns, Name: lineageName, Fingerprint: lineageFP})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got.GetLineage(), lineage()) {
		t.Fatalf("lineage differs: %v", got.GetLineage())
	}
}

func checkRecord(t *testing.T, c *artimeta.Client, ns string) {
	t.Helper()
	ctx := context.Background()
	got, err := c.Records.GetRecord(ctx, &v1.GetRecordRequest{Namespace: ns, Uuid: recordUUID})
	if err != nil {
		t.Fatal(err)
	}
	rec := got.GetRecord()
	want := recordEntries()
	if len(rec.GetEntries()) != len(want) {
		t.Fatalf("entries %v", rec.GetEntries())
	}
	for i := range want {
		if !proto.Equal(rec.GetEntries()[i], want[i]) {
			t.Fatalf("entry %d is %v, want %v", i, rec.GetEntries()[i], want[i])
		}
	}
	if fmt.Sprint(rec.GetMetadata()) != fmt.Sprint(recordMetadata) || rec.GetFileCount() != int64(len(recordFiles)) {
		t.Fatalf("record %v", rec)
	}
	contains, err := c.Records.ContainsRecord(ctx, &v1.ContainsRecordRequest{Namespace: ns, Uuid: recordUUID})
	if err != nil || !contains.GetContains() || contains.GetMissingBlobs() != 0 {
		t.Fatalf("contains: %v %v", contains, err)
	}
	for _, f := range recordFiles {
		data, err := c.GetBlob(ctx, ns, artimeta.DigestOf(f.data))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, f.data) {
			t.Fatalf("%s differs", f.path)
		}
	}
}

// allPages calls page with each next token until the last page, returning every item.
func allPages[T any](t *testing.T, page func(token string) ([]T, string, error)) ([]T, int) {
	t.Helper()
	var items []T
	pages := 0
	token := ""
	for {
		got, next, err := page(token)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(got) > 2 {
			t.Fatalf("page of %d", len(got))
		}
		items = append(items, got...)
		if token = next; token == "" {
			return items, pages
		}
	}
}

func TestLineageListsRecordsReadWhatPythonWrote(t *testing.T) {
	c := liveClient(t)
	ctx := context.Background()
	ns := os.Getenv("ARTIMETA_PY_NAMESPACE")
	if ns == "" {
		t.Skip("ARTIMETA_PY_NAMESPACE is not set")
	}
	checkLineage(t, c, ns)

	parts, pages := allPages(t, func(token string) ([]*v1.StoragePartition, string, error) {
		r, err := c.Connection.ListSnapshotPartitions(ctx, &v1.ListSnapshotPartitionsRequest{Namespace: ns, Name: graphName,
			SnapshotFingerprint: snapFP, ArtifactKey: smallArtifactKey, PageSize: 2, PageToken: token})
		return r.GetPartitions(), r.GetNextPageToken(), err
	})
	want := map[string]bool{}
	for i := range nSmallPartitions {
		want[canonical(partition(i))] = true
	}
	if pages != 3 {
		t.Fatalf("%d pages", pages)
	}
	got := make([]string, len(parts))
	for i, p := range parts {
		got[i] = canonical(p)
	}
	checkPartitions(t, got, want)

	execs, _ := allPages(t, func(token string) ([]*v1.ExecutionSummary, string, error) {
		r, err := c.Cache.ListExecutions(ctx, &v1.ListExecutionsRequest{Namespace: ns, PageSize: 2, PageToken: token})
		return r.GetExecutions(), r.GetNextPageToken(), err
	})
	if len(execs) != len(executionIDs) {
		t.Fatalf("listed %d executions", len(execs))
	}
	for i, e := range execs {
		n := len(executionIDs) - 1 - i // newest first
		wantArgs := []string{"redun", "run", executionIDs[n], strings.Repeat("ü", n)}
		if e.GetId() != executionIDs[n] || !slices.Equal(e.GetArgs(), wantArgs) || e.GetJobCount() != 0 {
			t.Fatalf("execution %d is %v", i, e)
		}
	}

	ops, _ := allPages(t, func(token string) ([]*v1.OpSummary, string, error) {
		r, err := c.OpStore.ListOps(ctx, &v1.ListOpsRequest{Namespace: ns, NamePrefix: "conf/", PageSize: 2, PageToken: token})
		return r.GetOps(), r.GetNextPageToken(), err
	})
	var listed []string
	for _, o := range ops {
		latest := "-"
		if v := o.GetLatestVersion(); v != nil {
			latest = fmt.Sprintf("%s.%s.%s@%d.%d.%d/%v", v.GetMajor(), v.GetMinor(), v.GetPatch(),
				v.GetMajorNumber(), v.GetMinorNumber(), v.GetPatchNumber(), v.GetCreationTime())
		}
		listed = append(listed, fmt.Sprintf("%s|%d|%s", o.GetName(), o.GetVersionCount(), latest))
	}
	if !slices.Equal(listed, opsListed) {
		t.Fatalf("listed %v, want %v", listed, opsListed)
	}

	checkRecord(t, c, ns)

	_, err := c.Connection.ListSnapshotPartitions(ctx, &v1.ListSnapshotPartitionsRequest{Namespace: ns, Name: graphName,
		SnapshotFingerprint: snapFP, ArtifactKey: smallArtifactKey, PageToken: "not-a-token"})
	wantReason(t, err, artimeta.ErrInvalidArgument, "INVALID_PAGE_TOKEN")
	_, err = c.Cache.ListExecutions(ctx, &v1.ListExecutionsRequest{Namespace: ns, PageToken: "not-a-token"})
	wantReason(t, err, artimeta.ErrInvalidArgument, "INVALID_PAGE_TOKEN")
	_, err = c.OpStore.ListOps(ctx, &v1.ListOpsRequest{Namespace: ns, PageToken: "not-a-token"})
	wantReason(t, err, artimeta.ErrInvalidArgument, "INVALID_PAGE_TOKEN")
	_, err = c.Connection.GetGraphLineage(ctx, &v1.GetGraphLineageRequest{Namespace: ns, Name: lineageName, Fingerprint: 1})
	wantReason(t, err, artimeta.ErrNotFound, "GRAPH_NOT_FOUND")
	_, err = c.Records.GetRecord(ctx, &v1.GetRecordRequest{Namespace: ns, Uuid: "missingR"})
	wantReason(t, err, artimeta.ErrNotFound, "RECORD_NOT_FOUND")
}

func TestLineageListsRecordsWrittenForPython(t *testing.T) {
	c := liveClient(t)
	ctx := context.Background()
	prefix := os.Getenv("ARTIMETA_WRITE_PREFIX")
	if prefix == "" {
		t.Skip("ARTIMETA_WRITE_PREFIX is not set")
	}
	// The connection and blob suites create these namespaces; Python reads back what is left there.
	conn, blobs := prefix+"-conn", prefix+"-blob"
	for _, ns := range []string{conn, blobs} {
		if _, err := c.GetNamespace(ctx, ns); err != nil {
			if _, err := c.CreateNamespace(ctx, ns, artimeta.NamespaceSpec{}); err != nil {
				t.Fatal(err)
			}
		}
	}

	// A dangling edge is refused and writes nothing, not even the graph.
	bad := lineage()
	bad.Edges = append(bad.Edges, &v1.LineageEdge{Kind: v1.LineageEdgeKind_LINEAGE_EDGE_KIND_INPUT, ArtifactKey: "nowhere", ProducerKey: "p1", InputName: "z"})
	graph := &v1.Graph{Name: lineageName, Fingerprint: lineageFP, Document: []byte("{}")}
	_, err := c.Connection.WriteGraph(ctx, &v1.WriteGraphRequest{Namespace: conn, Graph: graph, Lineage: bad})
	wantReason(t, err, artimeta.ErrInvalidArgument, "DANGLING_LINEAGE_EDGE")
	_, err = c.Connection.GetGraphLineage(ctx, &v1.GetGraphLineageRequest{Namespace: conn, Name: lineageName, Fingerprint: lineageFP})
	wantReason(t, err, artimeta.ErrNotFound, "GRAPH_NOT_FOUND")
	if _, err := c.Connection.WriteGraph(ctx, &v1.WriteGraphRequest{Namespace: conn, Graph: graph, Lineage: lineage()}); err != nil {
		t.Fatal(err)
	}
	checkLineage(t, c, conn)

	// A manifest whose blobs are absent is refused; FindMissingBlobs names them, then they upload.
	entries := recordEntries()
	_, err = c.Records.CommitRecord(ctx, &v1.CommitRecordRequest{Namespace: blobs, Uuid: recordUUID, Entries: entries})
	wantReason(t, err, artimeta.ErrFailedPrecondition, "MISSING_BLOBS")
	var digests []*v1.Digest
	for _, f := range recordFiles {
		digests = append(digests, artimeta.DigestOf(f.data))
	}
	missing, err := c.Blobs.FindMissingBlobs(ctx, &v1.FindMissingBlobsRequest{Namespace: blobs, Digests: digests})
	if err != nil || len(missing.GetMissingDigests()) != len(digests) {
		t.Fatalf("missing: %v %v", missing, err)
	}
	for _, f := range recordFiles {
		if _, err := c.PutBlob(ctx, blobs, f.data); err != nil {
			t.Fatal(err)
		}
	}
	committed, err := c.Records.CommitRecord(ctx, &v1.CommitRecordRequest{Namespace: blobs, Uuid: recordUUID, Entries: entries,
		Metadata: recordMetadata, SetMetadata: true})
	if err != nil || !committed.GetCreated() {
		t.Fatalf("commit: %v %v", committed, err)
	}
	checkRecord(t, c, blobs)
}
