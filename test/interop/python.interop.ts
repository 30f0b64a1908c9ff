import { defineSdkScenarios } from './scenarios.js';
import { sdkLanguages } from './toolchains.js';

// The official CAP Python SDK (cap-sdk-python, pinned in python/requirements.txt).
defineSdkScenarios(sdkLanguages().python);
