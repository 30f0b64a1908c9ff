package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	cap "capstan.dev/interop/internal/pb/cordumv1"
)

func runSubmit(args []string) error {
	fs := flag.NewFlagSet("submit", flag.ExitOnError)
	natsURL := fs.String("nats", "", "NATS URL")
	redisURL := fs.String("redis", "", "Redis URL")
	jobID := fs.String("job-id", "", "job id")
	topic := fs.String("topic", "", "job topic")
	traceID := fs.String("trace-id", "", "trace id")
	tenant := fs.String("tenant", "", "tenant id")
	input := fs.String("input", "{}", "JSON input stored behind context_ptr")
	wait := fs.Float64("wait", 0, "seconds to wait for the JobResult (0: none)")
	senderID := fs.String("sender-id", "go-client", "sender id")
	signingKey := fs.String("signing-key", "", "PEM ECDSA private key")
	authToken := fs.String("auth-token", "", "BusPacket.auth_token to send (signed with the packet)")
	_ = fs.Parse(args)
	key, err := loadPrivateKey(*signingKey)
	if err != nil {
		return err
	}
	redisOpts, err := redis.ParseURL(*redisURL)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(redisOpts)
	defer rdb.Close()
	nc, err := nats.Connect(*natsURL)
	if err != nil {
		return err
	}
	defer nc.Drain()
	ctx := context.Background()

	// docs:start go-client
	// The input goes to Redis at ctx:<job_id>; the request carries only the pointer.
	if err := rdb.Set(ctx, "ctx:"+*jobID, *input, 0).Err(); err != nil {
		return err
	}
	outcomes := make(chan *nats.Msg, 16)
	if *wait > 0 {
		// The worker reports on sys.job.result; the scheduler announces jobs that ended without a worker's
		// result (denied by policy, no worker...) on sys.job.dlq.
		for _, subject := range []string{subjectResult, subjectDLQ} {
			if _, err := nc.ChanSubscribe(subject, outcomes); err != nil {
				return err
			}
		}
		if err := nc.Flush(); err != nil {
			return err
		}
	}
	packet := newPacket(*traceID, *senderID)
	packet.Payload = &cap.BusPacket_JobRequest{JobRequest: &cap.JobRequest{
		JobId:      *jobID,
		Topic:      *topic,
		ContextPtr: "redis://ctx:" + *jobID,
		TenantId:   *tenant,
	}}
	packet.AuthToken = *authToken
	data, err := encode(packet, key)
	if err != nil {
		return err
	}
	if err := nc.Publish(subjectSubmit, data); err != nil {
		return err
	}
	// docs:end go-client
	if err := nc.Flush(); err != nil {
		return err
	}
	if *wait <= 0 {
		emit(map[string]any{"event": "submitted", "job_id": *jobID})
		return nil
	}
	deadline := time.After(time.Duration(*wait * float64(time.Second)))
	for {
		select {
		case <-deadline:
			return errors.New("timed out waiting for the job's JobResult")
		case msg := <-outcomes:
			got := &cap.BusPacket{}
			if proto.Unmarshal(msg.Data, got) != nil || got.GetJobResult().GetJobId() != *jobID {
				continue
			}
			result := got.GetJobResult()
			var output any
			if result.GetResultPtr() != "" {
				resultKey, err := redisKey(result.GetResultPtr())
				if err != nil {
					return err
				}
				raw, err := rdb.Get(ctx, resultKey).Bytes()
				if err != nil {
					return err
				}
				if err := json.Unmarshal(raw, &output); err != nil {
					return err
				}
			}
			emit(map[string]any{
				"event": "result", "subject": msg.Subject, "job_id": result.GetJobId(),
				"status": result.GetStatus().String(), "result_ptr": result.GetResultPtr(),
				"worker_id": result.GetWorkerId(), "trace_id": got.GetTraceId(),
				"error_code": result.GetErrorCode(), "error_message": result.GetErrorMessage(), "output": output,
			})
			return nil
		}
	}
}

func runCancel(args []string) error {
	fs := flag.NewFlagSet("cancel", flag.ExitOnError)
	natsURL := fs.String("nats", "", "NATS URL")
	jobID := fs.String("job-id", "", "job id")
	reason := fs.String("reason", "cancelled by the go client", "why")
	senderID := fs.String("sender-id", "go-client", "sender id")
	signingKey := fs.String("signing-key", "", "PEM ECDSA private key")
	_ = fs.Parse(args)
	key, err := loadPrivateKey(*signingKey)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(*natsURL)
	if err != nil {
		return err
	}
	defer nc.Drain()
	packet := newPacket(randomHex(16), *senderID)
	packet.Payload = &cap.BusPacket_JobCancel{JobCancel: &cap.JobCancel{JobId: *jobID, Reason: *reason, RequestedBy: *senderID}}
	data, err := encode(packet, key)
	if err != nil {
		return err
	}
	if err := nc.Publish(subjectCancel, data); err != nil {
		return err
	}
	if err := nc.Flush(); err != nil {
		return err
	}
	emit(map[string]any{"event": "cancelled", "job_id": *jobID})
	return nil
}
