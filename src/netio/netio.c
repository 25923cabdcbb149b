// meshdns native batch socket (issue 12 item 1): a UDP socket that moves many datagrams per syscall
// (recvmmsg/sendmmsg, Linux). Readiness comes from libuv (uv_poll_t on the fd), so the event loop never
// blocks; the JavaScript side (batch-socket.ts) owns every buffer and passes it in on each call, so this
// file keeps no pointer into JavaScript memory between calls and allocates nothing per packet.
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#define ADDON_ERROR_CODE "MESHDNS_NETIO"
#include "common.h"

// The most messages one recvmmsg/sendmmsg call moves; the JavaScript side never asks for more.
#define MAX_BATCH 64
// One address record per message, shared with batch-socket.ts: the raw sockaddr (up to 28 bytes for
// sockaddr_in6), then the family as 4 or 6 at byte 28 and the sockaddr length at byte 29.
#define ADDR_STRIDE 32
#define ADDR_FAMILY_AT 28
#define ADDR_LEN_AT 29

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  napi_async_cleanup_hook_handle cleanup;
  int fd;
  int events;
  int closing;    // close begun: no more syscalls, no more callbacks
  int closed;     // libuv has released the poll handle
  int finalized;  // the JavaScript handle is gone
  double send_errors;
  struct Fast* fast;  // wakes answered in C (fast_wake), once JavaScript has armed them
} Sock;

static bool fast_wake(Sock* s, int* pending, int* adopt);
static void fast_release(napi_env env, struct Fast* f);


static napi_value throw_errno(napi_env env, const char* what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, text, error;
  napi_create_string_utf8(env, "MESHDNS_NETIO", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &error);
  napi_value errnum;
  napi_create_int32(env, err, &errnum);
  napi_set_named_property(env, error, "errno", errnum);
  napi_throw(env, error);
  return NULL;
}

static void maybe_free(Sock* s) {
  if (s->closed && s->finalized) free(s);
}

static void on_closed(uv_handle_t* handle) {
  Sock* s = (Sock*)handle->data;
  s->closed = 1;
  if (s->cleanup != NULL) {
    napi_remove_async_cleanup_hook(s->cleanup);
    s->cleanup = NULL;
  }
  maybe_free(s);
}

// Stops polling and closes the fd now (libuv allows closing it right after uv_poll_stop), so the port
// is free when close() returns; the handle itself is released later by libuv.
static void begin_close(Sock* s) {
  if (s->closing) return;
  s->closing = 1;
  uv_poll_stop(&s->poll);
  close(s->fd);
  s->fd = -1;
  if (s->fast != NULL) {
    fast_release(s->env, s->fast);
    s->fast = NULL;
  }
  if (s->callback != NULL) {
    napi_delete_reference(s->env, s->callback);
    s->callback = NULL;
  }
  if (s->async != NULL) {
    napi_async_destroy(s->env, s->async);
    s->async = NULL;
  }
  uv_close((uv_handle_t*)&s->poll, on_closed);
}

// The environment is going away (process or worker exit) with the socket still open.
static void on_env_cleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  (void)handle;
  begin_close((Sock*)arg);
}

static void on_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  Sock* s = (Sock*)data;
  s->finalized = 1;
  begin_close(s);
  maybe_free(s);
}

// libuv says the fd is readable and/or writable. Where C may answer a wake whole (fast_wake), JavaScript
// is not called; else it is told the events, a batch C received and left to it (`pending` messages in its
// slab), and whether it must take over a send queue C could not finish (`adopt`).
static void on_poll(uv_poll_t* handle, int status, int events) {
  Sock* s = (Sock*)handle->data;
  if (s->closing || s->callback == NULL) return;
  int pending = 0, adopt = 0;
  if (status == 0 && events == UV_READABLE && s->fast != NULL && fast_wake(s, &pending, &adopt)) return;
  if (s->closing || s->callback == NULL) return;
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, argv[3];
  napi_get_reference_value(env, s->callback, &cb);
  napi_get_global(env, &recv);
  napi_create_int32(env, status < 0 ? status : events, &argv[0]);
  napi_create_int32(env, pending, &argv[1]);
  napi_create_int32(env, adopt, &argv[2]);
  // make_callback runs the microtasks and nextTick queue afterwards, as Node's own I/O callbacks do.
  napi_status st = napi_make_callback(env, s->async, recv, cb, 3, argv, NULL);
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

static Sock* sock_of(napi_env env, napi_value v) {
  void* data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "MESHDNS_NETIO", "not a netio socket handle");
    return NULL;
  }
  return (Sock*)data;
}


static int set_int_option(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value);
}

// A socket of `type` bound to `ss`, with the options asked (0 / false: left as the system has them), or
// -1 with `*step` naming the call that failed and errno its error; the fd is closed on every failure.
static int bound_socket(int family, int type, const struct sockaddr_storage* ss, socklen_t sslen, int rcvbuf,
                        int sndbuf, bool reuseaddr, bool reuseport, const char** step) {
  int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *step = "socket";
    return -1;
  }
  *step = NULL;
  if (rcvbuf > 0 && set_int_option(fd, SOL_SOCKET, SO_RCVBUF, rcvbuf) != 0) *step = "setsockopt SO_RCVBUF";
  else if (sndbuf > 0 && set_int_option(fd, SOL_SOCKET, SO_SNDBUF, sndbuf) != 0) *step = "setsockopt SO_SNDBUF";
  else if (reuseaddr && set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1) != 0) *step = "setsockopt SO_REUSEADDR";
  else if (reuseport && set_int_option(fd, SOL_SOCKET, SO_REUSEPORT, 1) != 0) *step = "setsockopt SO_REUSEPORT";
  else if (bind(fd, (const struct sockaddr*)ss, sslen) != 0) *step = "bind";
  if (*step == NULL) return fd;
  int err = errno;
  close(fd);
  errno = err;
  return -1;
}

// open(host, port, rcvbuf, sndbuf, reusePort, onEvent) -> [handle, boundPort]
// rcvbuf/sndbuf 0 keep the system's size; onEvent(events) is called with UV_READABLE|UV_WRITABLE, or a
// negative libuv error code.
static napi_value netio_open(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) {
    napi_throw_type_error(env, "MESHDNS_NETIO", "open(host, port, rcvbuf, sndbuf, reusePort, onEvent)");
    return NULL;
  }
  char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  size_t hostLen = 0;
  int32_t port = 0, rcvbuf = 0, sndbuf = 0;
  bool reuse = false;
  CHECK(napi_get_value_string_utf8(env, argv[0], host, sizeof host, &hostLen));
  CHECK(napi_get_value_int32(env, argv[1], &port));
  CHECK(napi_get_value_int32(env, argv[2], &rcvbuf));
  CHECK(napi_get_value_int32(env, argv[3], &sndbuf));
  CHECK(napi_get_value_bool(env, argv[4], &reuse));

  struct sockaddr_storage ss;
  socklen_t sslen = 0;
  int family = parse_address(host, port, &ss, &sslen);
  if (family < 0 || port < 0 || port > 65535) return throw_errno(env, "open: not an IP address and port", EINVAL);
  const char* step = NULL;
  int fd = bound_socket(family, SOCK_DGRAM, &ss, sslen, rcvbuf, sndbuf, false, reuse, &step);
  if (fd < 0) return throw_errno(env, step, errno);
  struct sockaddr_storage bound;
  socklen_t boundLen = sizeof bound;
  getsockname(fd, (struct sockaddr*)&bound, &boundLen);
  int boundPort = ntohs(family == AF_INET ? ((struct sockaddr_in*)&bound)->sin_port
                                          : ((struct sockaddr_in6*)&bound)->sin6_port);

  uv_loop_t* loop = NULL;
  Sock* s = calloc(1, sizeof *s);
  if (s == NULL || napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init_socket(loop, &s->poll, fd) != 0) {
    close(fd);
    free(s);
    return throw_errno(env, "uv_poll_init_socket", ENOMEM);
  }
  s->poll.data = s;
  s->env = env;
  s->fd = fd;
  s->events = UV_READABLE;
  napi_value handle, name, resource, out, portValue;
  CHECK(napi_create_external(env, s, on_finalize, NULL, &handle));
  CHECK(napi_create_reference(env, argv[5], 1, &s->callback));
  CHECK(napi_create_object(env, &resource));
  CHECK(napi_create_string_utf8(env, "meshdns.netio", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, resource, name, &s->async));
  CHECK(napi_add_async_cleanup_hook(env, on_env_cleanup, s, &s->cleanup));
  int err = uv_poll_start(&s->poll, s->events, on_poll);
  if (err != 0) {
    begin_close(s);
    return throw_errno(env, "uv_poll_start", -err);
  }
  CHECK(napi_create_array_with_length(env, 2, &out));
  CHECK(napi_create_int32(env, boundPort, &portValue));
  CHECK(napi_set_element(env, out, 0, handle));
  CHECK(napi_set_element(env, out, 1, portValue));
  return out;
}

// Reads a Buffer or typed array argument: its bytes and its length in bytes.
static bool bytes_of(napi_env env, napi_value v, uint8_t** data, size_t* len) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t count = 0, offset = 0;
    napi_value ab;
    void* p = NULL;
    if (napi_get_typedarray_info(env, v, &type, &count, &p, &ab, &offset) != napi_ok) return false;
    // Only byte arrays and 32-bit integer arrays are passed; any other kind is refused.
    size_t width;
    switch (type) {
      case napi_uint8_array:
      case napi_int8_array:
      case napi_uint8_clamped_array: width = 1; break;
      case napi_int32_array:
      case napi_uint32_array: width = 4; break;
      case napi_float64_array: width = 8; break;
      default: return false;
    }
    *data = p;
    *len = count * width;
    return true;
  }
  return false;
}

// One recvmmsg into `max` slots of `slot` bytes at `data`, lengths into `lens` (-1: cut, longer than a
// slot) and address records into `addrs`: the count received, 0 when nothing waits, or -errno.
static int recv_batch(int fd, uint8_t* data, int32_t slot, int32_t* lens, uint8_t* addrs, int max) {
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iov[MAX_BATCH];
  memset(msgs, 0, sizeof(struct mmsghdr) * (size_t)max);
  for (int i = 0; i < max; i++) {
    iov[i].iov_base = data + (size_t)i * (size_t)slot;
    iov[i].iov_len = (size_t)slot;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = addrs + (size_t)i * ADDR_STRIDE;
    msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
  }
  int n;
  do n = recvmmsg(fd, msgs, (unsigned)max, MSG_DONTWAIT, NULL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
  for (int i = 0; i < n; i++) {
    uint8_t* a = addrs + (size_t)i * ADDR_STRIDE;
    lens[i] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? -1 : (int32_t)msgs[i].msg_len;
    a[ADDR_FAMILY_AT] = ((struct sockaddr*)a)->sa_family == AF_INET6 ? 6 : 4;
    a[ADDR_LEN_AT] = (uint8_t)msgs[i].msg_hdr.msg_namelen;
  }
  return n;
}

// Sends messages from..to-1 (message i: lens[i] bytes at data[offs[i]], to the address record i). A
// partial sendmmsg is retried from where it stopped; a message the kernel refuses (a bad address) is
// skipped and counted. Returns the index reached: below `to` only when the socket buffer is full.
static int32_t send_range(Sock* s, uint8_t* data, const int32_t* offs, const int32_t* lens, uint8_t* addrs,
                          int32_t from, int32_t to) {
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iov[MAX_BATCH];
  int32_t i = from;
  // Each turn sends at least one message, skips one, or stops: at most 2*(to-from) turns, EINTR aside.
  for (int turns = 0; i < to && turns < 4 * (to - from) + 8; turns++) {
    int count = to - i > MAX_BATCH ? MAX_BATCH : to - i;
    memset(msgs, 0, sizeof(struct mmsghdr) * (size_t)count);
    for (int k = 0; k < count; k++) {
      uint8_t* a = addrs + (size_t)(i + k) * ADDR_STRIDE;
      iov[k].iov_base = data + offs[i + k];
      iov[k].iov_len = (size_t)lens[i + k];
      msgs[k].msg_hdr.msg_iov = &iov[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
      // An address record of length 0: the socket's connected peer (connect() below).
      msgs[k].msg_hdr.msg_name = a[ADDR_LEN_AT] ? a : NULL;
      msgs[k].msg_hdr.msg_namelen = a[ADDR_LEN_AT];
    }
    int n = sendmmsg(s->fd, msgs, (unsigned)count, MSG_DONTWAIT);
    if (n > 0) {
      i += n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
      break;
    } else {
      // The first message of this call failed on its own (EINVAL, EACCES, ENETUNREACH...): skip it.
      s->send_errors++;
      i++;
    }
  }
  return i;
}

// recv(handle, data, slot, lens: Int32Array, addrs, max) -> count received (0: nothing waiting), or -errno.
// Message i lands at data[i*slot]; lens[i] is its length, or -1 if it was longer than a slot (cut).
static napi_value netio_recv(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Sock* s = sock_of(env, argv[0]);
  if (s == NULL) return NULL;
  uint8_t *data = NULL, *lensBytes = NULL, *addrs = NULL;
  size_t dataLen = 0, lensLen = 0, addrsLen = 0;
  int32_t slot = 0, max = 0;
  if (!bytes_of(env, argv[1], &data, &dataLen) || !bytes_of(env, argv[3], &lensBytes, &lensLen) ||
      !bytes_of(env, argv[4], &addrs, &addrsLen) || napi_get_value_int32(env, argv[2], &slot) != napi_ok ||
      napi_get_value_int32(env, argv[5], &max) != napi_ok) {
    napi_throw_type_error(env, "MESHDNS_NETIO", "recv(handle, data, slot, lens, addrs, max)");
    return NULL;
  }
  if (max > MAX_BATCH) max = MAX_BATCH;
  if (slot <= 0 || max < 0 || (size_t)slot * (size_t)max > dataLen || (size_t)max * 4 > lensLen ||
      (size_t)max * ADDR_STRIDE > addrsLen) {
    napi_throw_range_error(env, "MESHDNS_NETIO", "recv: buffers too small for the batch");
    return NULL;
  }
  if (s->closing) {
    CHECK(napi_create_int32(env, -EBADF, &result));
    return result;
  }
  CHECK(napi_create_int32(env, recv_batch(s->fd, data, slot, (int32_t*)lensBytes, addrs, max), &result));
  return result;
}

// send(handle, data, offs: Int32Array, lens: Int32Array, addrs, from, to) -> index reached.
// Sends messages from..to-1 (message i: lens[i] bytes at data[offs[i]], to the address record i).
// A partial sendmmsg is retried from where it stopped; a message the kernel refuses (a bad address) is
// skipped and counted; the index returned is below `to` only when the socket buffer is full (EAGAIN).
static napi_value netio_send(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Sock* s = sock_of(env, argv[0]);
  if (s == NULL) return NULL;
  uint8_t *data = NULL, *offsBytes = NULL, *lensBytes = NULL, *addrs = NULL;
  size_t dataLen = 0, offsLen = 0, lensLen = 0, addrsLen = 0;
  int32_t from = 0, to = 0;
  if (!bytes_of(env, argv[1], &data, &dataLen) || !bytes_of(env, argv[2], &offsBytes, &offsLen) ||
      !bytes_of(env, argv[3], &lensBytes, &lensLen) || !bytes_of(env, argv[4], &addrs, &addrsLen) ||
      napi_get_value_int32(env, argv[5], &from) != napi_ok || napi_get_value_int32(env, argv[6], &to) != napi_ok) {
    napi_throw_type_error(env, "MESHDNS_NETIO", "send(handle, data, offs, lens, addrs, from, to)");
    return NULL;
  }
  const int32_t* offs = (const int32_t*)offsBytes;
  const int32_t* lens = (const int32_t*)lensBytes;
  if (from < 0 || to < from || (size_t)to * 4 > offsLen || (size_t)to * 4 > lensLen ||
      (size_t)to * ADDR_STRIDE > addrsLen) {
    napi_throw_range_error(env, "MESHDNS_NETIO", "send: index past the batch's arrays");
    return NULL;
  }
  for (int32_t i = from; i < to; i++) {
    if (offs[i] < 0 || lens[i] < 0 || (size_t)offs[i] + (size_t)lens[i] > dataLen ||
        addrs[(size_t)i * ADDR_STRIDE + ADDR_LEN_AT] > sizeof(struct sockaddr_in6)) {
      napi_throw_range_error(env, "MESHDNS_NETIO", "send: a message or address lies outside its buffer");
      return NULL;
    }
  }
  if (s->closing) {
    CHECK(napi_create_int32(env, to, &result));
    return result;
  }
  CHECK(napi_create_int32(env, send_range(s, data, offs, lens, addrs, from, to), &result));
  return result;
}

// watch(handle, writable): polls for writability too (after a send stopped on a full buffer), or not.
static napi_value netio_watch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Sock* s = sock_of(env, argv[0]);
  if (s == NULL) return NULL;
  bool writable = false;
  CHECK(napi_get_value_bool(env, argv[1], &writable));
  int events = UV_READABLE | (writable ? UV_WRITABLE : 0);
  if (!s->closing && events != s->events) {
    s->events = events;
    int err = uv_poll_start(&s->poll, events, on_poll);
    if (err != 0) return throw_errno(env, "uv_poll_start", -err);
  }
  return NULL;
}

// info(handle) -> [rcvbuf, sndbuf, sendErrors]: the kernel's buffer sizes as it reports them.
static napi_value netio_info(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out, v;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Sock* s = sock_of(env, argv[0]);
  if (s == NULL) return NULL;
  int sizes[2] = {0, 0};
  if (!s->closing) {
    socklen_t len = sizeof(int);
    getsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &sizes[0], &len);
    len = sizeof(int);
    getsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &sizes[1], &len);
  }
  CHECK(napi_create_array_with_length(env, 3, &out));
  for (int k = 0; k < 2; k++) {
    CHECK(napi_create_int32(env, sizes[k], &v));
    CHECK(napi_set_element(env, out, (uint32_t)k, v));
  }
  CHECK(napi_create_double(env, s->send_errors, &v));
  CHECK(napi_set_element(env, out, 2, v));
  return out;
}

static napi_value netio_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Sock* s = sock_of(env, argv[0]);
  if (s == NULL) return NULL;
  begin_close(s);
  return NULL;
}

// leave(handle): connects the socket to its own address (127.0.0.1 or ::1 for a wildcard bind). Linux
// (5.4+) no longer picks a connected socket from its SO_REUSEPORT group, and only a datagram from that
// very address and port -- none -- matches it, so new queries go to the group's other sockets while what
// is queued here stays readable. Sends to an explicit address still go (udp_sendmsg takes msg_name).
static napi_value netio_leave(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Sock* s = sock_of(env, argv[0]);
  if (s == NULL || s->closing) return NULL;
  struct sockaddr_storage self;
  socklen_t len = sizeof self;
  if (getsockname(s->fd, (struct sockaddr*)&self, &len) != 0) return throw_errno(env, "getsockname", errno);
  if (self.ss_family == AF_INET) {
    struct sockaddr_in* v4 = (struct sockaddr_in*)&self;
    if (v4->sin_addr.s_addr == htonl(INADDR_ANY)) v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  } else {
    struct sockaddr_in6* v6 = (struct sockaddr_in6*)&self;
    if (IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr)) v6->sin6_addr = in6addr_loopback;
  }
  if (connect(s->fd, (struct sockaddr*)&self, len) != 0) return throw_errno(env, "connect", errno);
  return NULL;
}

// connect(handle, host, port): the socket's one peer (an upstream server). The kernel then delivers only
// that peer's datagrams, a send may leave out the address (length 0), and an ICMP port unreachable
// comes back as ECONNREFUSED from recv (libuv first reports the socket's error as UV_EBADF and stops
// polling it: the socket is done).
static napi_value netio_connect(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Sock* s = sock_of(env, argv[0]);
  if (s == NULL) return NULL;
  char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  size_t hostLen = 0;
  int32_t port = 0;
  CHECK(napi_get_value_string_utf8(env, argv[1], host, sizeof host, &hostLen));
  CHECK(napi_get_value_int32(env, argv[2], &port));
  struct sockaddr_storage ss;
  socklen_t sslen = 0;
  if (parse_address(host, port, &ss, &sslen) < 0 || port <= 0 || port > 65535)
    return throw_errno(env, "connect: not an IP address and port", EINVAL);
  if (s->closing) return NULL;
  int rc;
  do rc = connect(s->fd, (struct sockaddr*)&ss, sslen);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) return throw_errno(env, "connect", errno);
  return NULL;
}

// tcpSocket(host, port, reusePort) -> fd: a TCP socket bound (not listening) with SO_REUSEADDR and, when
// asked, SO_REUSEPORT, for node:net's listen({fd}); Node before 22.12 cannot set SO_REUSEPORT itself.
static napi_value netio_tcp_socket(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, "MESHDNS_NETIO", "tcpSocket(host, port, reusePort)");
    return NULL;
  }
  char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  size_t hostLen = 0;
  int32_t port = 0;
  bool reuse = false;
  CHECK(napi_get_value_string_utf8(env, argv[0], host, sizeof host, &hostLen));
  CHECK(napi_get_value_int32(env, argv[1], &port));
  CHECK(napi_get_value_bool(env, argv[2], &reuse));
  struct sockaddr_storage ss;
  socklen_t sslen = 0;
  int family = parse_address(host, port, &ss, &sslen);
  if (family < 0 || port < 0 || port > 65535) return throw_errno(env, "tcpSocket: not an IP address and port", EINVAL);
  const char* step = NULL;
  int fd = bound_socket(family, SOCK_STREAM, &ss, sslen, 0, 0, true, reuse, &step);
  if (fd < 0) return throw_errno(env, step, errno);
  napi_value out;
  CHECK(napi_create_int32(env, fd, &out));
  return out;
}

// ---- The hit path (issue 12 item 6) ----
// A copy of the UDP listener's answer templates (src/server/answer-templates.ts), answered from here in
// place into the send slab, so a repeated question costs no JavaScript. JavaScript decides everything:
// which answers are kept, in which slot (put/drop mirror its own slots one for one), which table
// generation is current and what time it is; this file only repeats AnswerTemplate.write() for the
// questions it finds, and leaves every other message (and any template it may not use) to JavaScript.

#define FNV_OFFSET 0x811c9dc5u
#define FNV_PRIME 0x01000193u
#define DNS_HEADER 12
#define OPT_RR_SIZE 11
#define OUR_EDNS_SIZE 1232
#define FLAG_QR_OPCODE 0xf800
#define FLAGS_FROM_CLIENT 0x0110  // RD and CD
// lens[i] of a message answered here: JavaScript skips it.
#define ANSWERED (-2)

// Indexes of put()'s numbers (an Int32Array) and of answer()'s slab state.
enum { M_HASH, M_QTYPE, M_QCLASS, M_DO, M_FLAGS, M_ARCOUNT, M_RUN_AT, M_RUN_COUNT, M_STRIDE, M_GEN, M_CACHE, M_COUNT };
enum { S_QUEUED, S_USED, S_MAX_MESSAGES, S_MAX_BYTES, S_COUNT };

// One kept template in one allocation: these fields, then nttl int32 TTL offsets, nttl int32 TTLs, the
// name (lower-case wire bytes) and the body, so an answer reads one run of memory.
typedef struct {
  uint32_t body_len;
  int32_t gen;    // the generation of the table, or of the cache's purges, it was kept in
  uint8_t cache;  // a cache template: also bound by time
  int32_t run_at, run_count, stride, turn, nttl;
  uint16_t qtype, qclass, flags, arcount, name_len;
  uint8_t do_bit;
  double stored_at, valid_until;  // cache templates, in the cache's clock (ms)
  uint8_t data[];
} Tpl;

// A slot: the question's hash beside the template, so a set's ways are one cache line to look through.
typedef struct {
  uint32_t hash;
  Tpl* t;
} Slot;

typedef struct {
  uint32_t sets, ways;
  Slot* slots;
} Store;

static void store_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  Store* st = data;
  for (uint32_t i = 0; i < st->sets * st->ways; i++) free(st->slots[i].t);
  free(st->slots);
  free(st);
}

static Store* store_of(napi_env env, napi_value v) {
  void* data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "MESHDNS_NETIO", "not a template store");
    return NULL;
  }
  return data;
}

// templates(sets, ways) -> store: empty slots, sets a power of two (as answer-templates.ts has them).
static napi_value netio_templates(napi_env env, napi_callback_info info) {
  napi_value argv[2], out;
  if (!get_args(env, info, 2, argv, "templates(sets, ways)")) return NULL;
  uint32_t sets = 0, ways = 0;
  CHECK(napi_get_value_uint32(env, argv[0], &sets));
  CHECK(napi_get_value_uint32(env, argv[1], &ways));
  if (sets == 0 || (sets & (sets - 1)) != 0 || ways == 0 || ways > 64 || sets > (1u << 20)) {
    napi_throw_range_error(env, "MESHDNS_NETIO", "templates: sets a power of two up to 2^20, 1-64 ways");
    return NULL;
  }
  Store* st = calloc(1, sizeof *st);
  Slot* slots = calloc((size_t)sets * ways, sizeof(Slot));
  if (st == NULL || slots == NULL) {
    free(st);
    free(slots);
    return throw_errno(env, "templates", ENOMEM);
  }
  st->sets = sets;
  st->ways = ways;
  st->slots = slots;
  CHECK(napi_create_external(env, st, store_finalize, NULL, &out));
  return out;
}

static Slot* slot_arg(napi_env env, Store* st, napi_value v) {
  uint32_t slot = 0;
  if (napi_get_value_uint32(env, v, &slot) != napi_ok || slot >= st->sets * st->ways) {
    napi_throw_range_error(env, "MESHDNS_NETIO", "template slot out of range");
    return NULL;
  }
  return &st->slots[slot];
}

// put(store, slot, name, body, ttlOffsets, ttls, numbers, storedAt, validUntil): keeps a copy in `slot`
// (the one answer-templates.ts chose), replacing what was there. `numbers` is an Int32Array indexed by M_*.
static napi_value netio_put(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  if (!get_args(env, info, 9, argv, "put(store, slot, name, body, ttlOffsets, ttls, numbers, storedAt, validUntil)"))
    return NULL;
  Store* st = store_of(env, argv[0]);
  if (st == NULL) return NULL;
  Slot* slot = slot_arg(env, st, argv[1]);
  if (slot == NULL) return NULL;
  uint8_t *name = NULL, *body = NULL, *offs = NULL, *ttls = NULL, *nums = NULL;
  size_t nameLen = 0, bodyLen = 0, offsLen = 0, ttlsLen = 0, numsLen = 0;
  double storedAt = 0, validUntil = 0;
  if (!bytes_of(env, argv[2], &name, &nameLen) || !bytes_of(env, argv[3], &body, &bodyLen) ||
      !bytes_of(env, argv[4], &offs, &offsLen) || !bytes_of(env, argv[5], &ttls, &ttlsLen) ||
      !bytes_of(env, argv[6], &nums, &numsLen) || napi_get_value_double(env, argv[7], &storedAt) != napi_ok ||
      napi_get_value_double(env, argv[8], &validUntil) != napi_ok) {
    napi_throw_type_error(env, "MESHDNS_NETIO", "put: bad arguments");
    return NULL;
  }
  const int32_t* m = (const int32_t*)nums;
  size_t nttl = offsLen / 4;
  bool ok = numsLen >= M_COUNT * 4 && offsLen == ttlsLen && nameLen >= 1 && nameLen <= 255 &&
            bodyLen >= DNS_HEADER + nameLen + 4 && bodyLen + OPT_RR_SIZE <= 65535;
  // Every place written per answer must lie inside the body: the rotated run and each TTL.
  if (ok && m[M_RUN_COUNT] > 1)
    ok = m[M_RUN_AT] >= 0 && m[M_STRIDE] > 0 &&
         (int64_t)m[M_RUN_AT] + (int64_t)m[M_RUN_COUNT] * m[M_STRIDE] <= (int64_t)bodyLen;
  for (size_t i = 0; ok && i < nttl; i++) {
    int32_t at = ((const int32_t*)offs)[i];
    ok = at >= DNS_HEADER && (size_t)at + 4 <= bodyLen;
  }
  if (!ok) {
    napi_throw_range_error(env, "MESHDNS_NETIO", "put: a template that does not hold together");
    return NULL;
  }
  Tpl* t = malloc(sizeof(Tpl) + nttl * 8 + nameLen + bodyLen);
  if (t == NULL) return throw_errno(env, "put", ENOMEM);
  memcpy(t->data, offs, nttl * 4);
  memcpy(t->data + nttl * 4, ttls, nttl * 4);
  memcpy(t->data + nttl * 8, name, nameLen);
  memcpy(t->data + nttl * 8 + nameLen, body, bodyLen);
  t->qtype = (uint16_t)m[M_QTYPE];
  t->qclass = (uint16_t)m[M_QCLASS];
  t->do_bit = m[M_DO] != 0;
  t->flags = (uint16_t)m[M_FLAGS];
  t->arcount = (uint16_t)m[M_ARCOUNT];
  t->run_at = m[M_RUN_AT];
  t->run_count = m[M_RUN_COUNT];
  t->stride = m[M_STRIDE];
  t->turn = 0;
  t->gen = m[M_GEN];
  t->cache = m[M_CACHE] != 0;
  t->nttl = (int32_t)nttl;
  t->name_len = (uint16_t)nameLen;
  t->body_len = (uint32_t)bodyLen;
  t->stored_at = storedAt;
  t->valid_until = validUntil;
  free(slot->t);
  slot->t = t;
  slot->hash = (uint32_t)m[M_HASH];
  return NULL;
}

// drop(store, slot): the slot is empty again.
static napi_value netio_drop(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv, "drop(store, slot)")) return NULL;
  Store* st = store_of(env, argv[0]);
  if (st == NULL) return NULL;
  Slot* slot = slot_arg(env, st, argv[1]);
  if (slot == NULL) return NULL;
  free(slot->t);
  slot->t = NULL;
  slot->hash = 0;
  return NULL;
}

// What scan_question read of a query (question-scan.ts QuestionScan, the same rules and the same hash).
typedef struct {
  uint32_t hash;
  int name_end;
  uint16_t flags, qtype, qclass;
  int edns, udp_size, do_bit;
} Scan;

static bool scan_question(const uint8_t* b, int len, Scan* s) {
  if (len < DNS_HEADER + 5) return false;
  uint16_t flags = (uint16_t)(b[2] << 8 | b[3]);
  if ((flags & FLAG_QR_OPCODE) != 0) return false;
  if (b[4] != 0 || b[5] != 1) return false;
  if ((b[6] | b[7] | b[8] | b[9] | b[10]) != 0) return false;
  int arcount = b[11];
  if (arcount > 1) return false;
  uint32_t h = FNV_OFFSET;
  int i = DNS_HEADER;
  for (;;) {
    if (i >= len) return false;
    int n = b[i];
    h = (h ^ (uint32_t)n) * FNV_PRIME;
    if (n == 0) break;
    if (n > 63 || i + 1 + n > len) return false;
    for (int k = i + 1; k <= i + n; k++) {
      uint8_t c = b[k];
      h = (h ^ (uint32_t)(c >= 0x41 && c <= 0x5a ? c | 0x20 : c)) * FNV_PRIME;
    }
    i += n + 1;
  }
  int name_end = i + 1;
  if (name_end - DNS_HEADER > 255 || name_end + 4 > len) return false;
  const uint8_t* q = b + name_end;
  s->qtype = (uint16_t)(q[0] << 8 | q[1]);
  s->qclass = (uint16_t)(q[2] << 8 | q[3]);
  s->edns = 0;
  s->udp_size = 0;
  s->do_bit = 0;
  if (arcount == 1) {
    int r = name_end + 4;
    if (r + 11 > len || b[r] != 0 || (b[r + 1] << 8 | b[r + 2]) != 41) return false;
    if (r + 11 + (b[r + 9] << 8 | b[r + 10]) > len) return false;
    s->edns = 1;
    int size = b[r + 3] << 8 | b[r + 4];
    s->udp_size = size < 512 ? 512 : size;
    s->do_bit = (b[r + 7] & 0x80) != 0;
  }
  for (int k = 0; k < 4; k++) h = (h ^ q[k]) * FNV_PRIME;
  h = (h ^ (uint32_t)s->do_bit) * FNV_PRIME;
  s->hash = h;
  s->flags = flags;
  s->name_end = name_end;
  return true;
}

static Slot* find_template(Store* st, const uint8_t* b, const Scan* s) {
  Slot* base = &st->slots[(size_t)(s->hash & (st->sets - 1)) * st->ways];
  for (uint32_t w = 0; w < st->ways; w++) {
    Tpl* t = base[w].t;
    if (base[w].hash != s->hash || t == NULL || t->qtype != s->qtype || t->qclass != s->qclass ||
        t->do_bit != s->do_bit || t->name_len != s->name_end - DNS_HEADER)
      continue;
    const uint8_t* name = t->data + (size_t)t->nttl * 8;
    int k = 0;
    for (; k < t->name_len; k++) {
      uint8_t c = b[DNS_HEADER + k];
      if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) != name[k]) break;
    }
    if (k == t->name_len) return &base[w];
  }
  return NULL;
}

static void put32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

// AnswerTemplate.write(): the body, the client's ID, RD/CD and question case, the next rotation, the
// TTLs less `age`, and our OPT for an EDNS client.
static void write_answer(Tpl* t, uint8_t* out, const uint8_t* q, const Scan* s, int32_t age) {
  const int32_t* offs = (const int32_t*)t->data;
  const int32_t* ttls = offs + t->nttl;
  const uint8_t* body = t->data + (size_t)t->nttl * 8 + t->name_len;
  memcpy(out, body, t->body_len);
  out[0] = q[0];
  out[1] = q[1];
  uint16_t flags = t->flags | (s->flags & FLAGS_FROM_CLIENT);
  out[2] = (uint8_t)(flags >> 8);
  out[3] = (uint8_t)flags;
  memcpy(out + DNS_HEADER, q + DNS_HEADER, (size_t)(s->name_end - DNS_HEADER));
  if (t->run_count > 1) {
    t->turn = (t->turn + 1) % t->run_count;
    int32_t bytes = t->run_count * t->stride, shift = t->turn * t->stride;
    memcpy(out + t->run_at, body + t->run_at + shift, (size_t)(bytes - shift));
    memcpy(out + t->run_at + bytes - shift, body + t->run_at, (size_t)shift);
  }
  for (int32_t i = 0; i < t->nttl; i++) {
    int32_t ttl = ttls[i] - age;
    put32(out + offs[i], (uint32_t)(ttl > 0 ? ttl : 0));
  }
  if (!s->edns) return;
  uint16_t arcount = (uint16_t)(t->arcount + 1);
  out[10] = (uint8_t)(arcount >> 8);
  out[11] = (uint8_t)arcount;
  uint8_t* p = out + t->body_len;
  const uint8_t opt[OPT_RR_SIZE] = {0, 0, 41, OUR_EDNS_SIZE >> 8, OUR_EDNS_SIZE & 0xff, 0, 0, 0, 0, 0, 0};
  memcpy(p, opt, OPT_RR_SIZE);
  if (s->do_bit) p[7] = 0x80;
}

// Queues template t's answer (`size` bytes, for query q read into s) as reply k of the send slab, at byte
// `used`, to the sender's address record a: returns the bytes of the slab now in use.
static int32_t queue_answer(Tpl* t, const uint8_t* q, const Scan* s, int32_t age, const uint8_t* a, int32_t size,
                            uint8_t* out, int32_t* offs, int32_t* lens, uint8_t* addrs, int32_t k, int32_t used) {
  write_answer(t, out + used, q, s, age);
  offs[k] = used;
  lens[k] = size;
  memcpy(addrs + (size_t)k * ADDR_STRIDE, a, ADDR_STRIDE);
  return used + size;
}

// The slot whose template answers message `q` (`len` bytes, from address record `a`) as the pipeline
// would: a table template of generation `tableGen`, or a cache template of purge generation `cacheGen`
// with storedAt <= now < validUntil (cacheGen < 0: none). NULL for anything not a plain query, a
// question without such a template, an answer over the client's size, or a source port of 0. Fills `s`,
// the answer's `size` and the cache answer's `age` (seconds).
static Slot* usable_template(Store* st, const uint8_t* q, int32_t len, const uint8_t* a, Scan* s, int32_t tableGen,
                             int32_t cacheGen, double now, int32_t* size, int32_t* age) {
  if (len < 0 || (a[2] | a[3]) == 0 || !scan_question(q, len, s)) return NULL;
  Slot* slot = find_template(st, q, s);
  if (slot == NULL) return NULL;
  Tpl* t = slot->t;
  *age = 0;
  if (!t->cache) {
    if (t->gen != tableGen) return NULL;
  } else {
    if (cacheGen < 0 || t->gen != cacheGen || !(now >= t->stored_at && now < t->valid_until)) return NULL;
    *age = (int32_t)((now - t->stored_at) / 1000);
  }
  *size = (int32_t)t->body_len + (s->edns ? OPT_RR_SIZE : 0);
  return *size > (s->edns ? s->udp_size : 512) ? NULL : slot;
}

// answer(store, data, slot, lens, addrs, count, outData, outOffs, outLens, outAddrs, state, hits,
//        tableGen, cacheGen, now) -> hits answered.
// For each of the batch's `count` messages (as recv() left them) that a kept template answers -- a table
// template of generation `tableGen`, or a cache template of purge generation `cacheGen` with
// storedAt <= now < validUntil -- writes the
// answer at the end of the send slab (state[S_QUEUED] replies, state[S_USED] bytes, bounded by
// state[S_MAX_*]), copies the sender's address beside it, sets lens[i] to ANSWERED and hits[k] to the
// template's slot. Stops where the slab is full; the rest is JavaScript's, as is anything not a plain
// query, a question without a template, an answer over the client's size, or a source port of 0.
static napi_value netio_answer(napi_env env, napi_callback_info info) {
  napi_value argv[15], result;
  if (!get_args(env, info, 15, argv, "answer(store, data, slot, lens, addrs, count, outData, outOffs, outLens, "
                                     "outAddrs, state, hits, tableGen, cacheGen, now)"))
    return NULL;
  Store* st = store_of(env, argv[0]);
  if (st == NULL) return NULL;
  uint8_t *data = NULL, *lensB = NULL, *addrs = NULL, *out = NULL, *offsB = NULL, *outLensB = NULL,
          *outAddrs = NULL, *stateB = NULL, *hitsB = NULL;
  size_t dataLen = 0, lensLen = 0, addrsLen = 0, outLen = 0, offsLen = 0, outLensLen = 0, outAddrsLen = 0,
         stateLen = 0, hitsLen = 0;
  int32_t slot = 0, count = 0, tableGen = 0, cacheGen = 0;
  double now = 0;
  if (!bytes_of(env, argv[1], &data, &dataLen) || napi_get_value_int32(env, argv[2], &slot) != napi_ok ||
      !bytes_of(env, argv[3], &lensB, &lensLen) || !bytes_of(env, argv[4], &addrs, &addrsLen) ||
      napi_get_value_int32(env, argv[5], &count) != napi_ok || !bytes_of(env, argv[6], &out, &outLen) ||
      !bytes_of(env, argv[7], &offsB, &offsLen) || !bytes_of(env, argv[8], &outLensB, &outLensLen) ||
      !bytes_of(env, argv[9], &outAddrs, &outAddrsLen) || !bytes_of(env, argv[10], &stateB, &stateLen) ||
      !bytes_of(env, argv[11], &hitsB, &hitsLen) || napi_get_value_int32(env, argv[12], &tableGen) != napi_ok ||
      napi_get_value_int32(env, argv[13], &cacheGen) != napi_ok || napi_get_value_double(env, argv[14], &now) != napi_ok) {
    napi_throw_type_error(env, "MESHDNS_NETIO", "answer: bad arguments");
    return NULL;
  }
  int32_t* state = (int32_t*)stateB;
  if (stateLen < S_COUNT * 4 || slot <= 0 || count < 0 || (size_t)count * (size_t)slot > dataLen ||
      (size_t)count * 4 > lensLen || (size_t)count * ADDR_STRIDE > addrsLen || (size_t)count * 4 > hitsLen ||
      state[S_QUEUED] < 0 || state[S_USED] < 0 || state[S_MAX_MESSAGES] < state[S_QUEUED] ||
      (size_t)state[S_MAX_MESSAGES] * 4 > offsLen || (size_t)state[S_MAX_MESSAGES] * 4 > outLensLen ||
      (size_t)state[S_MAX_MESSAGES] * ADDR_STRIDE > outAddrsLen || (size_t)state[S_MAX_BYTES] > outLen ||
      state[S_USED] > state[S_MAX_BYTES]) {
    napi_throw_range_error(env, "MESHDNS_NETIO", "answer: buffers too small for the batch");
    return NULL;
  }
  int32_t* lens = (int32_t*)lensB;
  int32_t* outOffs = (int32_t*)offsB;
  int32_t* outLens = (int32_t*)outLensB;
  int32_t* hits = (int32_t*)hitsB;
  int32_t queued = state[S_QUEUED], used = state[S_USED], found = 0;
  for (int32_t i = 0; i < count; i++) {
    if (lens[i] < 0) continue;
    const uint8_t* q = data + (size_t)i * (size_t)slot;
    const uint8_t* a = addrs + (size_t)i * ADDR_STRIDE;
    Scan s;
    int32_t size = 0, age = 0;
    Slot* found_slot = usable_template(st, q, lens[i], a, &s, tableGen, cacheGen, now, &size, &age);
    if (found_slot == NULL) continue;
    Tpl* t = found_slot->t;
    if (queued == state[S_MAX_MESSAGES] || used + size > state[S_MAX_BYTES]) break;
    used = queue_answer(t, q, &s, age, a, size, out, outOffs, outLens, outAddrs, queued++, used);
    lens[i] = ANSWERED;
    hits[found++] = (int32_t)(found_slot - st->slots);
  }
  state[S_QUEUED] = queued;
  state[S_USED] = used;
  CHECK(napi_create_int32(env, found, &result));
  return result;
}


// ---- Wakes answered in C ----
// Once JavaScript arms it (`fast`), a readable wake is first tried here: each batch received whose every
// message a table template answers (usable_template) is answered and sent without calling JavaScript.
// The first batch with anything else is left in the receive slab for JavaScript (`pending`), which then
// goes on as before. JavaScript keeps the count of each template's answers: C notes the slot of each
// answer it gave (`deferred`), and JavaScript takes them in on its next batch or when it reads its counts.
// Table templates only: a cache hit is noted in the cache (CLOCK, popularity) by JavaScript as it comes.

// The control cells both sides write: C may use the send slab from its start (JavaScript's queue is empty
// and not blocked: 1); answers noted in `deferred`; and a send queue C leaves to JavaScript (adopt).
enum { F_GATE, F_DEFERRED, F_QUEUED, F_USED, F_SENT, F_CONTROL };
// What C counts of the batches it answered whole (a Float64Array): datagrams, batches, replies sent.
enum { K_RECEIVED, K_BATCHES, K_SENT, K_RECV_ERRORS, K_COUNTS };
#define FAST_REFS 12
// recvmmsg calls per wake, as batch-socket.ts's BATCHES_PER_WAKE.
#define BATCHES_PER_WAKE 4

struct Fast {
  napi_ref refs[FAST_REFS];  // the arrays below, kept alive while C holds pointers into them
  Store* store;
  uint8_t* data;
  int32_t* lens;
  uint8_t* addrs;
  int32_t slot, max;
  uint8_t* out;
  int32_t* out_offs;
  int32_t* out_lens;
  uint8_t* out_addrs;
  int32_t out_messages, out_bytes;
  const int32_t* table_gen;
  int32_t* control;
  double* counts;
  int32_t* deferred;
  int32_t deferred_cap;
};

static void fast_release(napi_env env, struct Fast* f) {
  for (int i = 0; i < FAST_REFS; i++)
    if (f->refs[i] != NULL) napi_delete_reference(env, f->refs[i]);
  free(f);
}

static bool fast_wake(Sock* s, int* pending, int* adopt) {
  struct Fast* f = s->fast;
  int32_t* control = f->control;
  if (control[F_GATE] != 1) return false;
  Scan scans[MAX_BATCH];
  Slot* found[MAX_BATCH];
  int32_t sizes[MAX_BATCH];
  for (int turn = 0; turn < BATCHES_PER_WAKE; turn++) {
    int n = recv_batch(s->fd, f->data, f->slot, f->lens, f->addrs, f->max);
    if (n <= 0) {
      if (n < 0) f->counts[K_RECV_ERRORS]++;
      return true;
    }
    int32_t used = 0, age = 0;
    bool whole = n <= f->out_messages && control[F_DEFERRED] + n <= f->deferred_cap;
    for (int i = 0; whole && i < n; i++) {
      const uint8_t* q = f->data + (size_t)i * (size_t)f->slot;
      found[i] = usable_template(f->store, q, f->lens[i], f->addrs + (size_t)i * ADDR_STRIDE, &scans[i],
                                 *f->table_gen, -1, 0, &sizes[i], &age);
      whole = found[i] != NULL && used + sizes[i] <= f->out_bytes;
      if (whole) used += sizes[i];
    }
    if (!whole) {
      *pending = n;
      return false;
    }
    int32_t d = control[F_DEFERRED];
    used = 0;
    for (int i = 0; i < n; i++) {
      used = queue_answer(found[i]->t, f->data + (size_t)i * (size_t)f->slot, &scans[i], 0,
                          f->addrs + (size_t)i * ADDR_STRIDE, sizes[i], f->out, f->out_offs, f->out_lens,
                          f->out_addrs, i, used);
      f->deferred[d++] = (int32_t)(found[i] - f->store->slots);
    }
    control[F_DEFERRED] = d;
    f->counts[K_RECEIVED] += n;
    f->counts[K_BATCHES]++;
    int32_t sent = send_range(s, f->out, f->out_offs, f->out_lens, f->out_addrs, 0, n);
    f->counts[K_SENT] += sent;
    if (sent < n) {
      // The socket buffer is full: JavaScript takes the rest of the queue and waits for writability.
      control[F_QUEUED] = n;
      control[F_USED] = used;
      control[F_SENT] = sent;
      control[F_GATE] = 0;
      *adopt = 1;
      return false;
    }
    if (n < f->max) return true;
  }
  return true;
}

// fast(handle, store, data, slot, lens, addrs, max, outData, outOffs, outLens, outAddrs, outMessages,
//      outBytes, tableGen: Int32Array, control: Int32Array, counts: Float64Array, deferred: Int32Array)
// Arms the wakes answered in C on this socket: the receive slab (`max` slots of `slot` bytes), the send
// slab (room for `outMessages` replies and `outBytes` bytes), the table generation's cell, the control
// cells (F_*), the counts (K_*) and the list of slots answered from. C keeps a reference to each, so their
// memory stays put (ArrayBuffers, not on V8's heap) until the socket closes. Once per socket.
static napi_value netio_fast(napi_env env, napi_callback_info info) {
  napi_value argv[17];
  if (!get_args(env, info, 17, argv,
                "fast(handle, store, data, slot, lens, addrs, max, outData, outOffs, outLens, outAddrs, "
                "outMessages, outBytes, tableGen, control, counts, deferred)"))
    return NULL;
  Sock* s = sock_of(env, argv[0]);
  if (s == NULL) return NULL;
  Store* st = store_of(env, argv[1]);
  if (st == NULL) return NULL;
  uint8_t *data = NULL, *lens = NULL, *addrs = NULL, *out = NULL, *offs = NULL, *outLens = NULL,
          *outAddrs = NULL, *gen = NULL, *control = NULL, *counts = NULL, *deferred = NULL;
  size_t dataLen = 0, lensLen = 0, addrsLen = 0, outLen = 0, offsLen = 0, outLensLen = 0, outAddrsLen = 0,
         genLen = 0, controlLen = 0, countsLen = 0, deferredLen = 0;
  int32_t slot = 0, max = 0, outMessages = 0, outBytes = 0;
  if (!bytes_of(env, argv[2], &data, &dataLen) || napi_get_value_int32(env, argv[3], &slot) != napi_ok ||
      !bytes_of(env, argv[4], &lens, &lensLen) || !bytes_of(env, argv[5], &addrs, &addrsLen) ||
      napi_get_value_int32(env, argv[6], &max) != napi_ok || !bytes_of(env, argv[7], &out, &outLen) ||
      !bytes_of(env, argv[8], &offs, &offsLen) || !bytes_of(env, argv[9], &outLens, &outLensLen) ||
      !bytes_of(env, argv[10], &outAddrs, &outAddrsLen) ||
      napi_get_value_int32(env, argv[11], &outMessages) != napi_ok ||
      napi_get_value_int32(env, argv[12], &outBytes) != napi_ok || !bytes_of(env, argv[13], &gen, &genLen) ||
      !bytes_of(env, argv[14], &control, &controlLen) || !bytes_of(env, argv[15], &counts, &countsLen) ||
      !bytes_of(env, argv[16], &deferred, &deferredLen)) {
    napi_throw_type_error(env, "MESHDNS_NETIO", "fast: bad arguments");
    return NULL;
  }
  if (slot <= 0 || max <= 0 || max > MAX_BATCH || (size_t)slot * (size_t)max > dataLen ||
      (size_t)max * 4 > lensLen || (size_t)max * ADDR_STRIDE > addrsLen || outMessages <= 0 || outBytes <= 0 ||
      (size_t)outBytes > outLen || (size_t)outMessages * 4 > offsLen || (size_t)outMessages * 4 > outLensLen ||
      (size_t)outMessages * ADDR_STRIDE > outAddrsLen || genLen < 4 || controlLen < F_CONTROL * 4 ||
      countsLen < K_COUNTS * 8 || deferredLen < 4) {
    napi_throw_range_error(env, "MESHDNS_NETIO", "fast: buffers too small for the batch");
    return NULL;
  }
  if (s->fast != NULL || s->closing) {
    napi_throw_error(env, "MESHDNS_NETIO", "fast: already armed, or closed");
    return NULL;
  }
  struct Fast* f = calloc(1, sizeof *f);
  if (f == NULL) return throw_errno(env, "fast", ENOMEM);
  const int held[FAST_REFS] = {1, 2, 4, 5, 7, 8, 9, 10, 13, 14, 15, 16};
  for (int i = 0; i < FAST_REFS; i++) {
    if (napi_create_reference(env, argv[held[i]], 1, &f->refs[i]) != napi_ok) {
      fast_release(env, f);
      return throw_last(env);
    }
  }
  f->store = st;
  f->data = data;
  f->lens = (int32_t*)lens;
  f->addrs = addrs;
  f->slot = slot;
  f->max = max;
  f->out = out;
  f->out_offs = (int32_t*)offs;
  f->out_lens = (int32_t*)outLens;
  f->out_addrs = outAddrs;
  f->out_messages = outMessages;
  f->out_bytes = outBytes;
  f->table_gen = (const int32_t*)gen;
  f->control = (int32_t*)control;
  f->counts = (double*)counts;
  f->deferred = (int32_t*)deferred;
  f->deferred_cap = (int32_t)(deferredLen / 4);
  s->fast = f;
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, netio_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recv", NULL, netio_recv, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, netio_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"watch", NULL, netio_watch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"info", NULL, netio_info, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, netio_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"leave", NULL, netio_leave, NULL, NULL, NULL, napi_enumerable, NULL},
      {"connect", NULL, netio_connect, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tcpSocket", NULL, netio_tcp_socket, NULL, NULL, NULL, napi_enumerable, NULL},
      {"templates", NULL, netio_templates, NULL, NULL, NULL, napi_enumerable, NULL},
      {"put", NULL, netio_put, NULL, NULL, NULL, napi_enumerable, NULL},
      {"drop", NULL, netio_drop, NULL, NULL, NULL, napi_enumerable, NULL},
      {"answer", NULL, netio_answer, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fast", NULL, netio_fast, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_value batch, stride;
  napi_create_int32(env, MAX_BATCH, &batch);
  napi_create_int32(env, ADDR_STRIDE, &stride);
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_set_named_property(env, exports, "maxBatch", batch);
  napi_set_named_property(env, exports, "addrStride", stride);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
