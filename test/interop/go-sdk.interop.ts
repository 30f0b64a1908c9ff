import { defineSdkScenarios } from './scenarios.js';
import { sdkLanguages } from './toolchains.js';

// The official CAP Go SDK (module github.com/cordum-io/cap/v2). run.sh tries to fetch it on every run; see
// docs/interop.md for why it cannot run here yet.
defineSdkScenarios(sdkLanguages()['go-sdk']);
