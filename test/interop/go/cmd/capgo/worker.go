package main

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	cap "capstan.dev/interop/internal/pb/cordumv1"
)

type worker struct {
	id       string
	topic    string
	nc       *nats.Conn
	rdb      *redis.Client
	key      *ecdsa.PrivateKey
	trusted  map[string]*ecdsa.PublicKey
	mu       sync.Mutex
	running  map[string]context.CancelCauseFunc
	attempts map[string]int
}

func runWorker(args []string) error {
	fs := flag.NewFlagSet("worker", flag.ExitOnError)
	mode := fs.String("mode", "agent", "accepted for parity with the SDK programs; this worker has one mode")
	natsURL := fs.String("nats", "", "NATS URL")
	redisURL := fs.String("redis", "", "Redis URL")
	id := fs.String("worker-id", "", "worker id (sender_id)")
	topic := fs.String("topic", "", "job topic, e.g. job.echo")
	interval := fs.Float64("heartbeat-interval", 1, "seconds between heartbeats")
	signingKey := fs.String("signing-key", "", "PEM ECDSA private key")
	var trust stringList
	fs.Var(&trust, "trust", "SENDER=PEM public key file, repeatable")
	_ = fs.Parse(args)
	if *mode != "agent" && *mode != "lowlevel" {
		return fmt.Errorf("--mode %q: expected agent or lowlevel", *mode)
	}
	key, err := loadPrivateKey(*signingKey)
	if err != nil {
		return err
	}
	trusted, err := loadTrust(trust)
	if err != nil {
		return err
	}
	redisOpts, err := redis.ParseURL(*redisURL)
	if err != nil {
		return err
	}
	w := &worker{id: *id, topic: *topic, rdb: redis.NewClient(redisOpts), key: key, trusted: trusted,
		running: map[string]context.CancelCauseFunc{}, attempts: map[string]int{}}
	if w.nc, err = nats.Connect(*natsURL, nats.Name(*id)); err != nil {
		return err
	}
	return w.serve(time.Duration(*interval * float64(time.Second)))
}

// docs:start go-worker
func (w *worker) serve(interval time.Duration) error {
	// Jobs arrive on the topic subject itself, in a queue group named after it (the CAP convention).
	if _, err := w.nc.QueueSubscribe(w.topic, w.topic, w.onJob); err != nil {
		return err
	}
	// Cancels are broadcast on sys.job.cancel; a worker acts on the ones for jobs it is running.
	if _, err := w.nc.Subscribe(subjectCancel, w.onCancel); err != nil {
		return err
	}
	if err := w.publish(subjectHandshake, w.handshake()); err != nil {
		return err
	}
	// Heartbeats put the worker in Capstan's worker list; the pool (here: the topic) is what jobs are routed by.
	go func() {
		for range time.Tick(interval) {
			_ = w.publish(subjectHeartbeat, w.heartbeat())
		}
	}()
	emit(map[string]any{"event": "ready", "worker_id": w.id, "mode": "go"})
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	return w.nc.Drain()
}

func (w *worker) onJob(msg *nats.Msg) {
	packet := &cap.BusPacket{}
	if err := proto.Unmarshal(msg.Data, packet); err != nil || packet.GetJobRequest() == nil {
		return
	}
	if len(w.trusted) > 0 {
		if err := verify(packet, w.trusted); err != nil {
			fmt.Fprintln(os.Stderr, "dropping job:", err)
			return
		}
	}
	go w.run(packet.GetTraceId(), packet.GetJobRequest())
}

func (w *worker) run(traceID string, req *cap.JobRequest) {
	ctx, cancel := context.WithCancelCause(context.Background())
	w.mu.Lock()
	w.running[req.GetJobId()] = cancel
	w.attempts[req.GetJobId()]++
	attempt := w.attempts[req.GetJobId()]
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.running, req.GetJobId())
		w.mu.Unlock()
		cancel(nil)
	}()
	started := time.Now()
	result := &cap.JobResult{JobId: req.GetJobId(), WorkerId: w.id}
	output, err := w.handle(ctx, traceID, req, attempt)
	switch {
	case ctx.Err() != nil:
		result.Status, result.ErrorMessage = cap.JobStatus_JOB_STATUS_CANCELLED, context.Cause(ctx).Error()
	case err != nil:
		result = err.result
		result.JobId, result.WorkerId = req.GetJobId(), w.id
	default:
		// The output goes to Redis at res:<job_id>; only the pointer travels on the bus.
		data, _ := json.Marshal(output)
		resultKey := "res:" + req.GetJobId()
		if e := w.rdb.Set(context.Background(), resultKey, data, 0).Err(); e != nil {
			result.Status, result.ErrorCode, result.ErrorMessage = cap.JobStatus_JOB_STATUS_FAILED_RETRYABLE, "402", e.Error()
		} else {
			result.Status, result.ResultPtr = cap.JobStatus_JOB_STATUS_SUCCEEDED, "redis://"+resultKey
		}
	}
	result.ExecutionMs = time.Since(started).Milliseconds()
	packet := newPacket(traceID, w.id)
	packet.Payload = &cap.BusPacket_JobResult{JobResult: result}
	_ = w.publish(subjectResult, packet)
}

// docs:end go-worker

// jobFailure is a handler outcome other than success: the status and error code to report.
type jobFailure struct{ result *cap.JobResult }

func failure(status cap.JobStatus, code, message string) *jobFailure {
	return &jobFailure{&cap.JobResult{Status: status, ErrorCode: code, ErrorMessage: message}}
}

// handle runs the suite's actions: echo (default), sleep, flaky (retryable once), fatal.
func (w *worker) handle(ctx context.Context, traceID string, req *cap.JobRequest, attempt int) (map[string]any, *jobFailure) {
	input := map[string]any{}
	if req.GetContextPtr() != "" {
		key, err := redisKey(req.GetContextPtr())
		if err != nil {
			return nil, failure(cap.JobStatus_JOB_STATUS_FAILED_FATAL, "203", err.Error())
		}
		raw, err := w.rdb.Get(ctx, key).Bytes()
		if err != nil {
			return nil, failure(cap.JobStatus_JOB_STATUS_FAILED_FATAL, "203", "input not readable: "+err.Error())
		}
		if err := json.Unmarshal(raw, &input); err != nil {
			return nil, failure(cap.JobStatus_JOB_STATUS_FAILED_FATAL, "203", "input is not JSON: "+err.Error())
		}
	}
	emit(map[string]any{"event": "started", "job_id": req.GetJobId(), "attempt": attempt})
	switch input["action"] {
	case "sleep":
		seconds, _ := input["seconds"].(float64)
		select {
		case <-time.After(time.Duration(seconds * float64(time.Second))):
			emit(map[string]any{"event": "finished", "job_id": req.GetJobId()})
			return map[string]any{"slept": seconds, "worker_id": w.id}, nil
		case <-ctx.Done():
			emit(map[string]any{"event": "cancelled", "job_id": req.GetJobId()})
			return nil, nil
		}
	case "flaky":
		if attempt < 2 {
			return nil, failure(cap.JobStatus_JOB_STATUS_FAILED_RETRYABLE, "1001", "transient failure, try again")
		}
		return map[string]any{"attempts": attempt, "worker_id": w.id}, nil
	case "fatal":
		return nil, failure(cap.JobStatus_JOB_STATUS_FAILED_FATAL, "203", "input rejected for good")
	}
	return map[string]any{"echo": input["value"], "worker_id": w.id, "job_id": req.GetJobId(),
		"trace_id": traceID, "language": "go"}, nil
}

func (w *worker) onCancel(msg *nats.Msg) {
	packet := &cap.BusPacket{}
	if err := proto.Unmarshal(msg.Data, packet); err != nil || packet.GetJobCancel() == nil {
		return
	}
	w.mu.Lock()
	cancel := w.running[packet.GetJobCancel().GetJobId()]
	w.mu.Unlock()
	if cancel != nil {
		c := packet.GetJobCancel()
		cancel(fmt.Errorf("cancelled by %s: %s", c.GetRequestedBy(), c.GetReason()))
	}
}

func (w *worker) handshake() *cap.BusPacket {
	packet := newPacket(randomHex(16), w.id)
	packet.Payload = &cap.BusPacket_Handshake{Handshake: &cap.Handshake{
		ComponentId:       w.id,
		Role:              cap.ComponentRole_COMPONENT_ROLE_WORKER,
		SupportedVersions: []int32{1},
		Capabilities:      map[string]bool{"heartbeats": true, "cancel": true, "signatures": w.key != nil},
		SdkVersion:        "capstan-interop-go (no SDK)",
		ReadyTopics:       []string{w.topic},
	}}
	return packet
}

func (w *worker) heartbeat() *cap.BusPacket {
	w.mu.Lock()
	active := len(w.running)
	w.mu.Unlock()
	packet := newPacket(w.id, w.id)
	packet.Payload = &cap.BusPacket_Heartbeat{Heartbeat: &cap.Heartbeat{
		WorkerId: w.id, Pool: w.topic, Type: "go", ActiveJobs: int32(active), MaxParallelJobs: 4,
	}}
	return packet
}

func (w *worker) publish(subject string, packet *cap.BusPacket) error {
	data, err := encode(packet, w.key)
	if err != nil {
		return err
	}
	return w.nc.Publish(subject, data)
}
