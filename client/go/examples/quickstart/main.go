package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/artimeta/artimeta/client/go/artimeta"
)

func main() {
	target := cmp.Or(os.Getenv("ARTIMETA_TARGET"), "127.0.0.1:50051")
	client, err := artimeta.New(target) // options: artimeta.WithToken(t), artimeta.WithRootCAs(pem)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, name := context.Background(), fmt.Sprintf("team-a-%d", os.Getpid())
	if _, err := client.CreateNamespace(ctx, name, artimeta.NamespaceSpec{Labels: map[string]string{"owner": "data-eng"}}); err != nil {
		log.Fatal(err)
	}
	for ns, err := range client.ListNamespaces(ctx, 100) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(ns.GetName(), ns.GetLabels())
	}
	if _, err := client.GetNamespace(ctx, "nope"); errors.Is(err, artimeta.ErrNotFound) {
		fmt.Println(artimeta.Reason(err)) // NAMESPACE_NOT_FOUND
	}
	if _, err := client.DeleteNamespace(ctx, name, false); err != nil {
		log.Fatal(err)
	}
}
