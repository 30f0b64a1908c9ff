import { defineSdkScenarios } from './scenarios.js';
import { sdkLanguages } from './toolchains.js';

// A Go worker and client written against the CAP conventions with nats.go and google.golang.org/protobuf only
// (go/cmd/capgo): Go's protobuf runtime and ECDSA signing against Capstan, independent of any SDK.
defineSdkScenarios(sdkLanguages().go);
