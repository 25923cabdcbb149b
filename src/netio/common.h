// What the native addons (netio.c, relay.c, fsio.c) need alike, included by each: each is one translation unit,
// built alone by src/netio/build.ts. ADDON_ERROR_CODE names the addon in the errors it throws.
#ifndef MESHDNS_NETIO_COMMON_H
#define MESHDNS_NETIO_COMMON_H

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <node_api.h>

#ifndef ADDON_ERROR_CODE
#error "define ADDON_ERROR_CODE before including common.h"
#endif

// The pending N-API error as a JavaScript exception, unless one is pending already.
static napi_value throw_last(napi_env env) {
  const napi_extended_error_info* info = NULL;
  napi_get_last_error_info(env, &info);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, ADDON_ERROR_CODE, info && info->error_message ? info->error_message : "napi call failed");
  return NULL;
}

// Returns from the calling function with the error thrown when an N-API call fails.
#define CHECK(call)                                  \
  do {                                               \
    if ((call) != napi_ok) return throw_last(env);   \
  } while (0)

// The call's first `n` arguments into argv; false, with a TypeError naming `usage` thrown, when fewer came.
static inline bool get_args(napi_env env, napi_callback_info info, size_t n, napi_value* argv, const char* usage) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    throw_last(env);
    return false;
  }
  if (argc < n) {
    napi_throw_type_error(env, ADDON_ERROR_CODE, usage);
    return false;
  }
  return true;
}

// host (IPv4 or IPv6 literal, an IPv6 one with an optional %scope) and port to a sockaddr.
static inline int parse_address(const char* host, int port, struct sockaddr_storage* ss, socklen_t* len) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in* v4 = (struct sockaddr_in*)ss;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    *len = sizeof *v4;
    return AF_INET;
  }
  struct sockaddr_in6* v6 = (struct sockaddr_in6*)ss;
  char copy[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  if (strlen(host) >= sizeof copy) return -1;
  strcpy(copy, host);
  char* scope = strchr(copy, '%');
  if (scope != NULL) *scope++ = '\0';
  if (inet_pton(AF_INET6, copy, &v6->sin6_addr) != 1) return -1;
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons((uint16_t)port);
  if (scope != NULL) {
    char* end = NULL;
    unsigned long n = strtoul(scope, &end, 10);
    v6->sin6_scope_id = (end != scope && *end == '\0') ? (uint32_t)n : if_nametoindex(scope);
  }
  *len = sizeof *v6;
  return AF_INET6;
}

#endif
