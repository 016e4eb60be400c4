// Command loadgen calls one read RPC from many goroutines on one client for a fixed time and
// prints throughput and latency as JSON (bench/clients.py compares it with the other clients).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"os"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/artimeta/artimeta/client/go/artimeta"
	artimetav1 "github.com/artimeta/artimeta/client/go/artimeta/v1"
)

func main() {
	target := flag.String("target", "127.0.0.1:50051", "server address")
	rpc := flag.String("rpc", "GetNamespace", "GetNamespace or ReadSnapshotTag")
	namespace := flag.String("namespace", "", "namespace to read")
	name := flag.String("name", "", "graph name (ReadSnapshotTag)")
	tag := flag.String("tag", "", "tag (ReadSnapshotTag)")
	concurrency := flag.Int("concurrency", 16, "calls in flight")
	warmup := flag.Duration("warmup", time.Second, "unmeasured calls first")
	duration := flag.Duration("duration", 5*time.Second, "measured time")
	flag.Parse()

	client, err := artimeta.New(*target)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	call := func(ctx context.Context) error {
		if *rpc == "ReadSnapshotTag" {
			_, err := client.Connection.ReadSnapshotTag(ctx, &artimetav1.ReadSnapshotTagRequest{Namespace: *namespace, Name: *name, Tag: *tag})
			return err
		}
		_, err := client.Namespaces.GetNamespace(ctx, &artimetav1.GetNamespaceRequest{Name: *namespace})
		return err
	}
	ctx := context.Background()
	if err := call(ctx); err != nil {
		log.Fatal(err)
	}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      int
		wg        sync.WaitGroup
	)
	start := time.Now()
	measureFrom := start.Add(*warmup)
	end := measureFrom.Add(*duration)
	// The client's own CPU time over the measured window: on shared cores it is taken from the server.
	cpu := make(chan time.Duration, 1)
	go func() {
		time.Sleep(time.Until(measureFrom))
		c0 := cpuTime()
		time.Sleep(time.Until(end))
		cpu <- cpuTime() - c0
	}()
	for range *concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for {
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				err := call(ctx)
				if t0.After(measureFrom) {
					if err != nil {
						bad++
					} else {
						mine = append(mine, time.Since(t0))
					}
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	cpuUsed := <-cpu
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	out := map[string]any{
		"client": "go", "rpc": *rpc, "concurrency": *concurrency, "seconds": duration.Seconds(),
		"calls": len(latencies), "errors": errs, "rps": float64(len(latencies)) / duration.Seconds(),
		"p50_ms": pct(0.5), "p99_ms": pct(0.99),
		"client_cpu_s": cpuUsed.Seconds(),
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
