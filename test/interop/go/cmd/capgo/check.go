package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	cap "capstan.dev/interop/internal/pb/cordumv1"
)

// The safety kernel's gRPC methods, called with grpc-go's generic Invoke (no generated service stubs needed).
const kernelService = "/cordum.agent.v1.SafetyKernel/"

func dialKernel(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// runCheck asks the kernel Check, Evaluate and Explain for one request and ListSnapshots, the way a policy
// author's Go service would (plain gRPC over HTTP/2, plaintext), and prints the answers as protojson.
func runCheck(args []string) error {
	fs := flag.NewFlagSet("check", flag.ExitOnError)
	kernel := fs.String("kernel", "", "host:port of the safety kernel")
	jobID := fs.String("job-id", "", "job id")
	topic := fs.String("topic", "", "job topic")
	tenant := fs.String("tenant", "default", "tenant")
	_ = fs.Parse(args)
	// docs:start go-check
	conn, err := grpc.NewClient(*kernel, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	req := &cap.PolicyCheckRequest{
		JobId:  *jobID,
		Topic:  *topic,
		Tenant: *tenant,
		Meta:   &cap.JobMetadata{TenantId: *tenant, Capability: "interop", RiskTags: []string{"read"}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	decision := &cap.PolicyCheckResponse{}
	if err := conn.Invoke(ctx, "/cordum.agent.v1.SafetyKernel/Check", req, decision); err != nil {
		return err
	}
	// decision.Decision, decision.RuleId, decision.PolicySnapshot, decision.Reason, decision.Constraints
	// docs:end go-check
	out := map[string]any{"event": "checked"}
	answers := map[string]proto.Message{"check": decision}
	for key, call := range map[string]struct {
		method string
		req    proto.Message
		resp   proto.Message
	}{
		"evaluate":  {"Evaluate", req, &cap.PolicyCheckResponse{}},
		"explain":   {"Explain", req, &cap.PolicyCheckResponse{}},
		"snapshots": {"ListSnapshots", &cap.ListSnapshotsRequest{}, &cap.ListSnapshotsResponse{}},
	} {
		if err := conn.Invoke(ctx, kernelService+call.method, call.req, call.resp); err != nil {
			return fmt.Errorf("%s: %w", call.method, err)
		}
		answers[key] = call.resp
	}
	for key, answer := range answers {
		raw, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(answer)
		if err != nil {
			return err
		}
		var value any
		if err := json.Unmarshal(raw, &value); err != nil {
			return err
		}
		out[key] = value
	}
	emit(out)
	return nil
}

// runCheckLoad measures Check latency from a Go gRPC client (the policy-rpc benchmark's client that is not Node):
// requests from a file of size-delimited PolicyCheckRequest messages, sequential (-rate 0) or paced open loop.
func runCheckLoad(args []string) error {
	fs := flag.NewFlagSet("checkload", flag.ExitOnError)
	kernel := fs.String("kernel", "", "host:port of the safety kernel")
	file := fs.String("requests", "", "size-delimited PolicyCheckRequest messages")
	rate := fs.Int("rate", 500, "calls per second (open loop); 0 = one at a time")
	n := fs.Int("n", 10000, "measured calls")
	warmup := fs.Int("warmup", 2000, "unmeasured calls first")
	_ = fs.Parse(args)
	reqs, err := readRequests(*file)
	if err != nil {
		return fmt.Errorf("cannot read requests from %q: %w", *file, err)
	}
	conn, err := dialKernel(*kernel)
	if err != nil {
		return err
	}
	defer conn.Close()
	check := func(i int) (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		t := time.Now()
		err := conn.Invoke(ctx, kernelService+"Check", reqs[i%len(reqs)], &cap.PolicyCheckResponse{})
		return time.Since(t), err
	}
	for i := 0; i < *warmup; i++ {
		if _, err := check(i); err != nil {
			return fmt.Errorf("warm-up Check: %w", err)
		}
	}
	lat := make([]float64, *n)
	errs := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	record := func(i int, d time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		lat[i] = float64(d.Nanoseconds()) / 1000
		if err != nil {
			errs++
		}
	}
	start := time.Now()
	for i := 0; i < *n; i++ {
		if *rate <= 0 {
			d, err := check(i)
			record(i, d, err)
			continue
		}
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(*rate))))
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			d, err := check(i)
			record(i, d, err)
		}(i)
	}
	wg.Wait()
	sort.Float64s(lat)
	pct := func(p float64) float64 { return lat[int(p*float64(len(lat)-1))] }
	emit(map[string]any{"calls": *n, "rate": *rate, "errors": errs, "p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": lat[len(lat)-1]})
	return nil
}

func readRequests(path string) ([]*cap.PolicyCheckRequest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var out []*cap.PolicyCheckRequest
	for {
		m := &cap.PolicyCheckRequest{}
		if err := protodelim.UnmarshalFrom(r, m); err != nil {
			if len(out) > 0 {
				return out, nil
			}
			return nil, err
		}
		out = append(out, m)
	}
}
