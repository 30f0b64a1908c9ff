// Command capgo is a CAP worker and client written against the CAP conventions with nothing but nats.go,
// go-redis and google.golang.org/protobuf (types generated from Capstan's proto/ at setup). The interop suite
// runs it against Capstan beside the official SDKs: it exercises Go's protobuf runtime, deterministic encoding
// and ECDSA P-256 signing, exactly as the CAP Go SDK does them, without depending on that SDK.
//
//	capgo worker --nats URL --redis URL --worker-id ID --topic job.x [--signing-key PEM] [--trust SENDER=PEM]...
//	capgo submit --nats URL --redis URL --job-id ID --topic job.x --trace-id T --input JSON [--wait S] [--signing-key PEM]
//	capgo cancel --nats URL --job-id ID --reason R [--sender-id ID] [--signing-key PEM]
//	capgo golden DIR   (decode and re-encode every golden vector; one JSON line per vector)
//	capgo check --kernel HOST:PORT --job-id ID --topic job.x [--tenant T]   (safety kernel over plain gRPC)
//	capgo checkload --kernel HOST:PORT --requests FILE [--rate N] [--n N]   (Check latency, for the benchmark)
//
// Every command prints JSON lines on stdout; diagnostics go to stderr.
package main

import (
	"encoding/json"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: capgo worker|submit|cancel|golden|check|checkload [flags]")
	}
	var err error
	switch os.Args[1] {
	case "worker":
		err = runWorker(os.Args[2:])
	case "submit":
		err = runSubmit(os.Args[2:])
	case "cancel":
		err = runCancel(os.Args[2:])
	case "golden":
		err = runGolden(os.Args[2:])
	case "check":
		err = runCheck(os.Args[2:])
	case "checkload":
		err = runCheckLoad(os.Args[2:])
	default:
		fail(fmt.Sprintf("unknown command %q: expected worker, submit, cancel, golden, check or checkload", os.Args[1]))
	}
	if err != nil {
		fail(err.Error())
	}
}

// emit prints one JSON object on its own line (the driver reads stdout line by line).
func emit(fields map[string]any) {
	line, err := json.Marshal(fields)
	if err != nil {
		fail(err.Error())
	}
	fmt.Println(string(line))
}

func fail(message string) {
	fmt.Fprintln(os.Stderr, "capgo:", message)
	os.Exit(1)
}
