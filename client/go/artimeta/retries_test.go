package artimeta

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"strings"
	"testing"

	artimetav1 "github.com/artimeta/artimeta/client/go/artimeta/v1"
)

// The client's retry table is the one Python reads from the same proto (ARTIMETA_RETRY_TABLE,
// written by tests/clients/conformance.py), and every RPC has a class.
func TestRetryClassesMatchTheTable(t *testing.T) {
	got := RetryClasses()
	for path, cls := range got {
		if cls == "UNSPECIFIED" {
			t.Errorf("%s declares no retry class", path)
		}
	}
	file := os.Getenv("ARTIMETA_RETRY_TABLE")
	if file == "" {
		t.Skip("ARTIMETA_RETRY_TABLE is not set")
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]string
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("retry classes differ from the table:\n got %v\nwant %v", got, want)
	}
	var config struct {
		MethodConfig []struct {
			Name []struct{ Service, Method string }
		}
	}
	if err := json.Unmarshal([]byte(DefaultRetry.serviceConfig()), &config); err != nil {
		t.Fatal(err)
	}
	retried := 0
	for _, n := range config.MethodConfig[0].Name {
		if cls := want["/"+n.Service+"/"+n.Method]; cls == RetryNone || cls == "" {
			t.Errorf("%s/%s is retried but its class is %q", n.Service, n.Method, cls)
		}
		retried++
	}
	for _, cls := range want {
		if cls != RetryNone {
			retried--
		}
	}
	if retried != 0 {
		t.Errorf("the service config retries %d methods more than the table", retried)
	}
}

func TestRequestIDIsFilledOnceAndKept(t *testing.T) {
	req := &artimetav1.RecordTagsRequest{Namespace: "n"}
	filled := withRequestID("/artimeta.v1.TagService/RecordTags", req).(*artimetav1.RecordTagsRequest)
	if len(filled.GetRequestId()) != 36 || strings.Count(filled.GetRequestId(), "-") != 4 || req.GetRequestId() != "" {
		t.Fatalf("request id %q (caller's request: %q)", filled.GetRequestId(), req.GetRequestId())
	}
	given := &artimetav1.RecordTagsRequest{RequestId: "3b241101-e2bb-4255-8caf-4136c566a962"}
	if got := withRequestID("/artimeta.v1.TagService/RecordTags", given); got != any(given) {
		t.Fatal("a caller's request id was replaced")
	}
	read := &artimetav1.GetTagsRequest{}
	if got := withRequestID("/artimeta.v1.TagService/GetTags", read); got != any(read) {
		t.Fatal("a read was changed")
	}
}

// Through tests/faultproxy.py losing the reply of every other call (ARTIMETA_FAULT_TARGET): each
// call's first attempt is committed and its answer lost; the client's retry, with the same
// request_id, gets the committed answer instead of ALREADY_EXISTS, a second supersession or
// NOT_FOUND.
func TestRetriesThroughLostReplies(t *testing.T) {
	target := os.Getenv("ARTIMETA_FAULT_TARGET")
	if target == "" {
		t.Skip("ARTIMETA_FAULT_TARGET is not set")
	}
	c, err := New(target)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	name := "go-retries-" + newRequestID()[:8]
	if _, err := c.CreateNamespace(ctx, name, NamespaceSpec{Description: "retried"}); err != nil {
		t.Fatalf("create: %v", err)
	}
	tags := artimetav1.NewTagServiceClient(c.Conn())
	entity := strings.Repeat("e", 40)
	rec, err := tags.RecordTags(ctx, &artimetav1.RecordTagsRequest{
		Namespace: name, EntityType: artimetav1.TagEntityType_TAG_ENTITY_TYPE_VALUE, EntityId: entity,
		Tags: []*artimetav1.TagKeyValue{{Key: "env", ValueJson: `"prod"`}}, Update: true,
	})
	if err != nil {
		t.Fatalf("record tags: %v", err)
	}
	history, err := tags.GetTagHistory(ctx, &artimetav1.GetTagHistoryRequest{Namespace: name, EntityId: entity, Key: "env"})
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	if len(history.GetTags()) != 1 || history.GetTags()[0].GetTagHash() != rec.GetTags()[0].GetTagHash() {
		t.Fatalf("tag history %v, want the one recorded tag %v", history.GetTags(), rec.GetTags())
	}
	deleted, err := c.DeleteNamespace(ctx, name, false)
	if err != nil || !deleted.GetDeleted() {
		t.Fatalf("delete: %v %v", deleted, err)
	}
}
