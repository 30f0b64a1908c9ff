package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	// Registers capstan.bus.v1.DeadLetter.
	_ "capstan.dev/interop/internal/pb/busv1"
	// Registers the cordum.agent.v1 types.
	cap "capstan.dev/interop/internal/pb/cordumv1"
)

// runGolden decodes every vectors/<name>.bin with the Go protobuf runtime into the type its .txtpb header names,
// re-encodes it deterministically and reports, per vector, whether the bytes are identical and whether any field
// was unknown to the generated code.
func runGolden(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: capgo golden <vectors dir>")
	}
	bins, err := filepath.Glob(filepath.Join(args[0], "*.bin"))
	if err != nil {
		return err
	}
	sort.Strings(bins)
	for _, bin := range bins {
		name := strings.TrimSuffix(filepath.Base(bin), ".bin")
		emit(goldenCheck(name, bin, strings.TrimSuffix(bin, ".bin")+".txtpb"))
	}
	return nil
}

func goldenCheck(name, bin, txtpb string) map[string]any {
	report := map[string]any{"vector": name, "ok": false}
	typeName, err := messageType(txtpb)
	if err != nil {
		report["detail"] = err.Error()
		return report
	}
	report["type"] = typeName
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typeName))
	if err != nil {
		report["detail"] = err.Error()
		return report
	}
	want, err := os.ReadFile(bin)
	if err != nil {
		report["detail"] = err.Error()
		return report
	}
	msg := mt.New().Interface()
	if err := (proto.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(want, msg); err != nil {
		report["detail"] = "decode: " + err.Error()
		return report
	}
	got, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		report["detail"] = "encode: " + err.Error()
		return report
	}
	// Re-encoding without unknown fields must not change anything: every field is known to the generated code.
	known := proto.Clone(msg)
	proto.Reset(known)
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(want, known); err != nil {
		report["detail"] = "decode (discard unknown): " + err.Error()
		return report
	}
	withoutUnknown, _ := proto.MarshalOptions{Deterministic: true}.Marshal(known)
	report["bytes"] = len(want)
	order, canonical, err := topLevelOrder(got)
	if err != nil {
		report["detail"] = "re-encoding does not parse: " + err.Error()
		return report
	}
	report["field_order"] = order
	// protobuf-go writes oneof fields after the regular ones (its documented "legacy" field order), so a message
	// whose oneof numbers are below regular fields comes out in a different order than protoc's field-number
	// order. Sorting the top-level fields back by number tells that apart from any other difference.
	report["canonical_equal"] = bytes.Equal(canonical, want)
	if packet, ok := msg.(*cap.BusPacket); ok {
		// What a CAP signature covers: the deterministic encoding with the signature field empty. Compare Go's
		// with protoc's (the vector without field 14), which is what Capstan signs and verifies first.
		unsigned := proto.Clone(packet).(*cap.BusPacket)
		unsigned.Signature = nil
		goPayload, _ := proto.MarshalOptions{Deterministic: true}.Marshal(unsigned)
		report["signing_payload_equal"] = bytes.Equal(goPayload, withoutField(want, 14))
		report["has_auth_token"] = packet.GetAuthToken() != ""
	}
	switch {
	case !bytes.Equal(withoutUnknown, got):
		report["detail"] = "the vector has fields the Go types do not know"
	case !bytes.Equal(got, want):
		report["detail"] = fmt.Sprintf("re-encoding differs at byte %d: got %s, want %s", firstDiff(got, want),
			hex.EncodeToString(got), hex.EncodeToString(want))
	default:
		report["ok"] = true
	}
	return report
}

// withoutField returns the encoding with every top-level occurrence of field `number` removed.
func withoutField(data []byte, number protowire.Number) []byte {
	var out []byte
	for rest := data; len(rest) > 0; {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 {
			return nil
		}
		m := protowire.ConsumeFieldValue(num, typ, rest[n:])
		if m < 0 {
			return nil
		}
		if num != number {
			out = append(out, rest[:n+m]...)
		}
		rest = rest[n+m:]
	}
	return out
}

// topLevelOrder lists the field numbers of an encoded message in the order written, and returns the encoding with
// its top-level fields stably sorted by number (the order protoc writes).
func topLevelOrder(data []byte) ([]int32, []byte, error) {
	type field struct {
		number protowire.Number
		raw    []byte
	}
	var fields []field
	for rest := data; len(rest) > 0; {
		number, typ, n := protowire.ConsumeTag(rest)
		if n < 0 {
			return nil, nil, protowire.ParseError(n)
		}
		m := protowire.ConsumeFieldValue(number, typ, rest[n:])
		if m < 0 {
			return nil, nil, protowire.ParseError(m)
		}
		fields = append(fields, field{number, rest[:n+m]})
		rest = rest[n+m:]
	}
	order := make([]int32, len(fields))
	for i, f := range fields {
		order[i] = int32(f.number)
	}
	sort.SliceStable(fields, func(i, j int) bool { return fields[i].number < fields[j].number })
	var canonical []byte
	for _, f := range fields {
		canonical = append(canonical, f.raw...)
	}
	return order, canonical, nil
}

// messageType reads the "# proto-message: <type>" header of a .txtpb vector.
func messageType(txtpb string) (string, error) {
	f, err := os.Open(txtpb)
	if err != nil {
		return "", err
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if t, ok := strings.CutPrefix(strings.TrimSpace(scanner.Text()), "# proto-message:"); ok {
			return strings.TrimSpace(t), nil
		}
	}
	return "", fmt.Errorf("%s: no \"# proto-message: <type>\" header", txtpb)
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return len(a)
}
