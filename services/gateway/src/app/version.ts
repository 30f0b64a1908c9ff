/** Version of the gateway API, shown in the OpenAPI document. */
export const GATEWAY_VERSION = '0.1.0';
