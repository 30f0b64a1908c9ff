package main

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	cap "capstan.dev/interop/internal/pb/cordumv1"
)

// CAP subjects (see docs/interop.md).
const (
	subjectSubmit    = "sys.job.submit"
	subjectResult    = "sys.job.result"
	subjectCancel    = "sys.job.cancel"
	subjectDLQ       = "sys.job.dlq"
	subjectHeartbeat = "sys.heartbeat"
	subjectHandshake = "sys.handshake"
)

// docs:start go-signing
// newPacket wraps a payload in a CAP v1 envelope.
func newPacket(traceID, senderID string) *cap.BusPacket {
	return &cap.BusPacket{
		TraceId:         traceID,
		SenderId:        senderID,
		CreatedAt:       timestamppb.Now(),
		ProtocolVersion: 1,
	}
}

// encode signs the packet when a key is given (ECDSA P-256 over SHA-256 of the deterministic encoding with the
// signature field empty, ASN.1 DER — what the CAP SDKs and Capstan do) and returns its deterministic encoding.
func encode(packet *cap.BusPacket, key *ecdsa.PrivateKey) ([]byte, error) {
	deterministic := proto.MarshalOptions{Deterministic: true}
	if key != nil {
		packet.Signature = nil
		unsigned, err := deterministic.Marshal(packet)
		if err != nil {
			return nil, err
		}
		digest := sha256.Sum256(unsigned)
		signature, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
		if err != nil {
			return nil, err
		}
		packet.Signature = signature
	}
	return deterministic.Marshal(packet)
}

// verify checks a received packet against the public key trusted for its sender_id.
func verify(packet *cap.BusPacket, trusted map[string]*ecdsa.PublicKey) error {
	key, ok := trusted[packet.GetSenderId()]
	if !ok {
		return fmt.Errorf("no trusted key for sender %q", packet.GetSenderId())
	}
	if len(packet.GetSignature()) == 0 {
		return errors.New("packet is not signed")
	}
	unsigned := proto.Clone(packet).(*cap.BusPacket)
	unsigned.Signature = nil
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(unsigned)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(data)
	if !ecdsa.VerifyASN1(key, digest[:], packet.GetSignature()) {
		return fmt.Errorf("signature of sender %q does not verify", packet.GetSenderId())
	}
	return nil
}

// docs:end go-signing

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// loadPrivateKey reads a PKCS#8 or SEC1 PEM ECDSA key; "" means no signing.
func loadPrivateKey(path string) (*ecdsa.PrivateKey, error) {
	if path == "" {
		return nil, nil
	}
	block, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	if key, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return key, nil
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: not an ECDSA private key: %w", path, err)
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an ECDSA private key", path)
	}
	return key, nil
}

// loadTrust reads SENDER=PEM_FILE specs into sender id → public key.
func loadTrust(specs []string) (map[string]*ecdsa.PublicKey, error) {
	trusted := map[string]*ecdsa.PublicKey{}
	for _, spec := range specs {
		sender, path, ok := strings.Cut(spec, "=")
		if !ok {
			return nil, fmt.Errorf("--trust %q: expected SENDER=PEM_FILE", spec)
		}
		block, err := readPEM(path)
		if err != nil {
			return nil, err
		}
		parsed, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		key, ok := parsed.(*ecdsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%s: not an ECDSA public key", path)
		}
		trusted[sender] = key
	}
	return trusted, nil
}

func readPEM(path string) (*pem.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	return block, nil
}

// redisKey turns a CAP pointer (redis://<key>) into its Redis key.
func redisKey(pointer string) (string, error) {
	key, ok := strings.CutPrefix(pointer, "redis://")
	if !ok || key == "" {
		return "", fmt.Errorf("unsupported pointer %q: expected redis://<key>", pointer)
	}
	return key, nil
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
