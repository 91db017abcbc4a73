#ifndef PRIVACY_CNGHTTP2_SHIM_H
#define PRIVACY_CNGHTTP2_SHIM_H
// libnghttp2 (Debian libnghttp2-dev), the HTTP/2 engine under PrivacyWire.
#include <nghttp2/nghttp2.h>
#endif
