// The one call of the golang filter's C API that this package makes itself
// (the SDK makes the others). Declared here, not by including the SDK's
// api.h (it lives in the module cache); plugin/golang/adapter's
// TestDirectSetMatchesSDK compiles this file together with api.h, so a
// prototype that drifts from Envoy's is a compile error there.
#include <stdint.h>

int envoyGoFilterHttpSetHeaderHelper(void* s, void* key_data, int key_len, void* value_data,
                                     int value_len, unsigned int action);
