// meshdns native TCP relay (issue 13 item 2): the VIP proxy's accept, connect and byte moving in C.
// Bytes go socket -> pipe -> socket with splice(2), so they never enter user space; readiness comes
// from one epoll set of the relay's own (edge-triggered for connections, level-triggered for listeners),
// which libuv polls as one fd on Node's loop. JavaScript is called only when a route has no static
// targets (it resolves and calls connect) and when a backend cannot be reached (it logs and counts).
// Half-close, resets and idle timeouts follow the Node path in vip/proxy.ts exactly:
//   - EOF on one side is passed on as shutdown(SHUT_WR) once the bytes before it are written;
//   - an error on one side closes it and resets the other (SO_LINGER 0, as resetAndDestroy);
//   - no byte in either direction for idleMs closes both; a connect not done in connectMs refuses.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#define ADDON_ERROR_CODE "MESHDNS_RELAY"
#include "common.h"

#define EVENT_ACCEPT 1
#define EVENT_CONNECT_FAILED 2
// Accepts per listener readiness (the listener is level-triggered: the rest comes on the next turn).
#define ACCEPT_BATCH 64
// How long a listener rests after accept ran out of file descriptors.
#define ACCEPT_PAUSE_MS 100
#define EPOLL_BATCH 256
// splice rounds per direction and readiness, then the fd is re-armed (EPOLL_CTL_MOD) so other
// connections and Node's own handles get their turn (the loop answers DNS too).
#define PUMP_ROUNDS 16
#define PIPE_CHUNK (1 << 20)
// Small exchanges (a request, a reply) are copied through this buffer: for a few hundred bytes,
// recv+send cost less than splice, which must put even a small packet's bytes into a page of its own.
// A read that fills it switches the direction to splice.
#define COPY_BUF (16 * 1024)
#define PIPE_POOL 256
#define MAX_TARGETS 64
#define SLOT_BITS 20
#define STAT_FIELDS 5

typedef struct Relay Relay;
typedef struct Listener Listener;
typedef struct Conn Conn;

// An epoll registration: which object and which of its sockets.
typedef enum { END_LISTENER, END_CLIENT, END_BACKEND } EndKind;
typedef struct {
  EndKind kind;
  void* owner;
} End;

typedef struct {
  int pipe[2];
  size_t inpipe;  // bytes read from src not yet written to dst
  int eof;        // src said EOF
  int shut;       // dst was shut for writing (after inpipe reached 0)
  int spliced;    // a read filled the copy buffer once: bulk, moved by splice from then on
} Dir;

typedef enum { CONN_WAITING, CONN_CONNECTING, CONN_RELAYING, CONN_DEAD } ConnState;

// A doubly-linked list link; a connection is on its listener's list and on one timer list.
typedef struct Link {
  struct Link *prev, *next;
} Link;

struct Conn {
  Relay* relay;
  Listener* listener;
  Link byListener;
  Link byTime;  // connecting: by connect start; relaying: by last activity (oldest first)
  End cend, bend;
  uint32_t id;
  ConnState state;
  int cfd, bfd;
  int c_rd, c_wr, b_rd, b_wr;  // edge-triggered readiness: set by epoll, cleared on EAGAIN
  int c_hup, b_hup;            // the peer's FIN (or an error) was signalled: read on until EOF
  uint64_t since;              // connect start or last activity (uv_now)
  Dir up, down;                // up: client -> backend
  struct sockaddr_storage target;  // the backend, formatted only when it cannot be reached
  Conn* nextDead;
};

struct Listener {
  Relay* relay;
  End end;
  int fd;
  int id;
  int dead;
  int paused;  // out of fds: not accepting until the relay's timer says try again
  Link conns;
  struct sockaddr_storage targets[MAX_TARGETS];
  socklen_t targetLens[MAX_TARGETS];
  int ntargets;
  uint32_t turn;
  double stats[STAT_FIELDS];  // active, total, bytesToBackend, bytesToClient, connectErrors
  Listener* nextDead;
};

struct Relay {
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  napi_async_cleanup_hook_handle cleanup;
  uv_loop_t* loop;
  uv_poll_t poll;
  uv_timer_t timer;
  int timerArmed;
  int epfd;
  int handlesOpen;
  int closing;
  int finalized;
  int inBatch;
  uint32_t connectMs, idleMs;
  uint64_t pausedUntil;  // listeners out of fds accept again then (0: none paused)
  Link connecting, relaying;
  Conn** slots;
  uint32_t nslots, cap;
  uint32_t* freeSlots;
  uint32_t nfree;
  uint16_t* gens;
  Listener** listeners;
  int nlisteners;
  int pipes[PIPE_POOL][2];
  int npipes;
  Conn* deadConns;
  Listener* deadListeners;
  char copy[COPY_BUF];
};


static void link_init(Link* l) { l->prev = l->next = l; }
static int link_empty(const Link* l) { return l->next == l; }
static void link_remove(Link* l) {
  l->prev->next = l->next;
  l->next->prev = l->prev;
  l->prev = l->next = l;
}
static void link_append(Link* head, Link* l) {
  l->prev = head->prev;
  l->next = head;
  head->prev->next = l;
  head->prev = l;
}
#define CONN_OF(link, field) ((Conn*)((char*)(link) - offsetof(Conn, field)))

// ---- pipes: kept in a pool, since making two per connection would cost more than the bytes they move

static int pipe_take(Relay* r, int out[2]) {
  if (r->npipes > 0) {
    r->npipes--;
    out[0] = r->pipes[r->npipes][0];
    out[1] = r->pipes[r->npipes][1];
    return 0;
  }
  if (pipe2(out, O_NONBLOCK | O_CLOEXEC) != 0) return -errno;
  // A copied read's rest goes into the pipe whole; past pipe-user-pages-soft a pipe has one page only.
  if (fcntl(out[0], F_GETPIPE_SZ) < COPY_BUF) {
    close(out[0]);
    close(out[1]);
    out[0] = out[1] = -1;
    return -ENOBUFS;
  }
  return 0;
}

static void pipe_give(Relay* r, Dir* d) {
  if (d->pipe[0] < 0) return;
  // A pipe that still holds bytes (the connection ended in an error) is not reused.
  if (d->inpipe == 0 && r->npipes < PIPE_POOL && !r->closing) {
    r->pipes[r->npipes][0] = d->pipe[0];
    r->pipes[r->npipes][1] = d->pipe[1];
    r->npipes++;
  } else {
    close(d->pipe[0]);
    close(d->pipe[1]);
  }
  d->pipe[0] = d->pipe[1] = -1;
}

// ---- connection ids: a slot and a generation, so a late connect() of a closed connection is ignored

static Conn* conn_by_id(Relay* r, uint32_t id) {
  uint32_t slot = id & ((1u << SLOT_BITS) - 1);
  if (slot >= r->nslots) return NULL;
  Conn* c = r->slots[slot];
  if (c == NULL || c->id != id || c->state == CONN_DEAD) return NULL;
  return c;
}

static int conn_slot(Relay* r, Conn* c) {
  uint32_t slot;
  if (r->nfree > 0) {
    slot = r->freeSlots[--r->nfree];
  } else {
    if (r->nslots == r->cap) {
      uint32_t cap = r->cap ? r->cap * 2 : 1024;
      if (cap > (1u << SLOT_BITS)) return -EMFILE;
      Conn** slots = realloc(r->slots, cap * sizeof *slots);
      if (slots == NULL) return -ENOMEM;
      r->slots = slots;
      uint32_t* freeSlots = realloc(r->freeSlots, cap * sizeof *freeSlots);
      if (freeSlots == NULL) return -ENOMEM;
      r->freeSlots = freeSlots;
      uint16_t* gens = realloc(r->gens, cap * sizeof *gens);
      if (gens == NULL) return -ENOMEM;
      memset(gens + r->cap, 0, (cap - r->cap) * sizeof *gens);
      r->gens = gens;
      r->cap = cap;
    }
    slot = r->nslots++;
  }
  r->gens[slot] = (uint16_t)((r->gens[slot] + 1) & 0x7ff);
  r->slots[slot] = c;
  c->id = ((uint32_t)r->gens[slot] << SLOT_BITS) | slot;
  return 0;
}

// ---- timers: one uv timer per relay, at the earliest connect or idle deadline

static void on_timer(uv_timer_t* t);
static void free_dead(Relay* r);
static void relay_free_if_done(Relay* r);

static void timer_arm(Relay* r) {
  if (r->closing) return;
  uint64_t due = UINT64_MAX;
  if (!link_empty(&r->connecting)) due = CONN_OF(r->connecting.next, byTime)->since + r->connectMs;
  if (!link_empty(&r->relaying)) {
    uint64_t idle = CONN_OF(r->relaying.next, byTime)->since + r->idleMs;
    if (idle < due) due = idle;
  }
  if (r->pausedUntil != 0 && r->pausedUntil < due) due = r->pausedUntil;
  if (due == UINT64_MAX) {
    if (r->timerArmed) uv_timer_stop(&r->timer);
    r->timerArmed = 0;
    return;
  }
  uint64_t now = uv_now(r->loop);
  uv_timer_start(&r->timer, on_timer, due > now ? due - now : 0, 0);
  r->timerArmed = 1;
}

// ---- closing

static void set_linger_zero(int fd) {
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

typedef enum { CLOSE_PLAIN, RESET_CLIENT, RESET_BACKEND } CloseHow;

static void conn_close(Conn* c, CloseHow how) {
  if (c->state == CONN_DEAD) return;
  Relay* r = c->relay;
  if (c->state == CONN_CONNECTING || c->state == CONN_RELAYING) link_remove(&c->byTime);
  c->state = CONN_DEAD;
  if (c->cfd >= 0) {
    if (how == RESET_CLIENT) set_linger_zero(c->cfd);
    close(c->cfd);  // close() also takes it out of the epoll set
    c->cfd = -1;
  }
  if (c->bfd >= 0) {
    if (how == RESET_BACKEND) set_linger_zero(c->bfd);
    close(c->bfd);
    c->bfd = -1;
  }
  pipe_give(r, &c->up);
  pipe_give(r, &c->down);
  link_remove(&c->byListener);
  c->listener->stats[0]--;
  uint32_t slot = c->id & ((1u << SLOT_BITS) - 1);
  r->slots[slot] = NULL;
  r->freeSlots[r->nfree++] = slot;
  // Events of this batch may still name it: freed when the batch is done.
  if (r->inBatch) {
    c->nextDead = r->deadConns;
    r->deadConns = c;
  } else {
    free(c);
  }
}

static void call_js(Relay* r, int kind, Listener* l, uint32_t id, int err, const char* target) {
  if (r->closing || r->callback == NULL) return;
  napi_env env = r->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, argv[5];
  napi_get_reference_value(env, r->callback, &cb);
  napi_get_global(env, &recv);
  napi_create_int32(env, kind, &argv[0]);
  napi_create_int32(env, l->id, &argv[1]);
  napi_create_uint32(env, id, &argv[2]);
  napi_create_int32(env, err, &argv[3]);
  if (target != NULL) napi_create_string_utf8(env, target, NAPI_AUTO_LENGTH, &argv[4]);
  else napi_get_undefined(env, &argv[4]);
  napi_status st = napi_make_callback(env, r->async, recv, cb, 5, argv, NULL);
  if (st == napi_pending_exception) {
    napi_value e;
    napi_get_and_clear_last_exception(env, &e);
    napi_fatal_exception(env, e);
  }
  napi_close_handle_scope(env, scope);
}

// The backend could not be reached: the client is reset, as the backend itself would have, and
// JavaScript logs it.
static void connect_failed(Conn* c, int err) {
  Relay* r = c->relay;
  Listener* l = c->listener;
  uint32_t id = c->id;
  char target[INET6_ADDRSTRLEN + 8];
  const struct sockaddr_storage* ss = &c->target;
  const void* addr = ss->ss_family == AF_INET6 ? (const void*)&((const struct sockaddr_in6*)ss)->sin6_addr
                                                : (const void*)&((const struct sockaddr_in*)ss)->sin_addr;
  char text[INET6_ADDRSTRLEN] = "";
  inet_ntop(ss->ss_family, addr, text, sizeof text);
  snprintf(target, sizeof target, "%s:%d", text, ntohs(((const struct sockaddr_in*)ss)->sin_port));
  l->stats[4]++;
  conn_close(c, RESET_CLIENT);
  // c may be gone now (freed at once outside a batch of events): only what was kept is used.
  call_js(r, EVENT_CONNECT_FAILED, l, id, err, target);
}

// ---- moving bytes

typedef enum { PUMP_OK, PUMP_SRC_ERROR, PUMP_DST_ERROR, PUMP_MORE } PumpResult;

// Moves src -> pipe -> dst until one side would block, EOF is passed on, or PUMP_ROUNDS pass.
// Writes what a copied read left over into the pipe, to go out as spliced bytes do.
static int keep_rest(Relay* r, Dir* d, const char* rest, size_t len) {
  if (d->pipe[0] < 0) {
    int e = pipe_take(r, d->pipe);
    if (e < 0) return e;
  }
  ssize_t n = write(d->pipe[1], rest, len);
  if (n != (ssize_t)len) return n < 0 ? -errno : -ENOBUFS;
  d->inpipe = len;
  return 0;
}

// Moves src -> dst until one side would block, EOF is passed on, or PUMP_ROUNDS pass. `hup`: the
// peer's FIN was signalled, so a short read does not mean the socket is drained. `last`: the other way
// has ended already, so the close that follows sends this way's FIN.
static PumpResult pump(Conn* c, Dir* d, int src, int dst, int* src_rd, int hup, int* dst_wr, double* counter,
                       int last, int* err) {
  Relay* r = c->relay;
  for (int round = 0; round < PUMP_ROUNDS; round++) {
    if (d->inpipe > 0) {
      if (!*dst_wr) return PUMP_OK;
      ssize_t n = splice(d->pipe[0], NULL, dst, NULL, d->inpipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d->inpipe -= (size_t)n;
        *counter += (double)n;
        c->since = uv_now(r->loop);
        if (d->inpipe > 0) continue;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && errno == EAGAIN) {
        *dst_wr = 0;
        return PUMP_OK;
      } else {
        *err = n < 0 ? errno : EPIPE;
        return PUMP_DST_ERROR;
      }
    }
    if (d->eof) {
      if (!d->shut) {
        d->shut = 1;
        if (!last) shutdown(dst, SHUT_WR);
      }
      return PUMP_OK;
    }
    if (!*src_rd) return PUMP_OK;
    if (!d->spliced) {
      ssize_t n = recv(src, r->copy, COPY_BUF, MSG_DONTWAIT);
      if (n == 0) {
        d->eof = 1;
        continue;
      }
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
          *src_rd = 0;
          return PUMP_OK;
        }
        *err = errno;
        return PUMP_SRC_ERROR;
      }
      if (n == COPY_BUF) d->spliced = 1;
      // A short read took all there was: more data brings a new edge (not so a FIN already signalled).
      else if (!hup) *src_rd = 0;
      ssize_t w = 0;
      if (*dst_wr) {
        w = send(dst, r->copy, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
          *err = errno;
          return PUMP_DST_ERROR;
        }
        if (w < 0) w = 0;
        if (w < n) *dst_wr = 0;
      }
      if (w > 0) {
        *counter += (double)w;
        c->since = uv_now(r->loop);
      }
      if (w < n) {
        int e = keep_rest(r, d, r->copy + w, (size_t)(n - w));
        if (e < 0) {
          *err = -e;
          return PUMP_SRC_ERROR;
        }
      }
      continue;
    }
    if (d->pipe[0] < 0) {
      int e = pipe_take(r, d->pipe);
      if (e < 0) {
        *err = -e;
        return PUMP_SRC_ERROR;
      }
    }
    ssize_t n = splice(src, NULL, d->pipe[1], NULL, PIPE_CHUNK, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      d->inpipe = (size_t)n;
    } else if (n == 0) {
      d->eof = 1;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN) {
      *src_rd = 0;
      return PUMP_OK;
    } else {
      *err = errno;
      return PUMP_SRC_ERROR;
    }
  }
  return PUMP_MORE;
}

static void rearm(Relay* r, int fd, End* end) {
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = end};
  epoll_ctl(r->epfd, EPOLL_CTL_MOD, fd, &ev);
}

static void conn_run(Conn* c) {
  Relay* r = c->relay;
  int err = 0;
  PumpResult up = pump(c, &c->up, c->cfd, c->bfd, &c->c_rd, c->c_hup, &c->b_wr, &c->listener->stats[2], c->down.shut, &err);
  // An error on one side closes it and resets the other (vip/proxy.ts: 'error' -> resetAndDestroy).
  if (up == PUMP_SRC_ERROR) return conn_close(c, RESET_BACKEND);
  if (up == PUMP_DST_ERROR) return conn_close(c, RESET_CLIENT);
  PumpResult down = pump(c, &c->down, c->bfd, c->cfd, &c->b_rd, c->b_hup, &c->c_wr, &c->listener->stats[3], c->up.shut, &err);
  if (down == PUMP_SRC_ERROR) return conn_close(c, RESET_CLIENT);
  if (down == PUMP_DST_ERROR) return conn_close(c, RESET_BACKEND);
  // Both ways ended and passed on: the Node path's two 'close' events.
  if (c->up.shut && c->down.shut) return conn_close(c, CLOSE_PLAIN);
  if (up == PUMP_MORE) rearm(r, c->cfd, &c->cend);
  if (down == PUMP_MORE) rearm(r, c->bfd, &c->bend);
  // Activity moves it to the young end of the idle list.
  link_remove(&c->byTime);
  link_append(&r->relaying, &c->byTime);
}

static int epoll_add(Relay* r, int fd, End* end, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = end};
  return epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

static void conn_connected(Conn* c, uint32_t events) {
  Relay* r = c->relay;
  link_remove(&c->byTime);
  c->state = CONN_RELAYING;
  c->since = uv_now(r->loop);
  link_append(&r->relaying, &c->byTime);
  // The client was not read until now (pauseOnConnect in the Node path); its readiness since the
  // accept was recorded.
  c->b_wr = 1;
  c->b_rd = (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) != 0;
  c->b_hup = (events & (EPOLLRDHUP | EPOLLHUP)) != 0;
  conn_run(c);
  if (!r->timerArmed) timer_arm(r);
}

static int sockopt_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

static void on_conn_event(Conn* c, int backend, uint32_t events) {
  if (c->state == CONN_DEAD) return;
  if (c->state != CONN_RELAYING) {
    if (!backend) {
      // Readiness of the client while its backend is chosen or connects, used once it is connected.
      if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->c_rd = 1;
      if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->c_hup = 1;
      if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) c->c_wr = 1;
      return;
    }
    if (c->state != CONN_CONNECTING) return;
    // Writable without an error or hang-up is connected; anything else says why in SO_ERROR.
    if ((events & (EPOLLERR | EPOLLHUP)) != 0 || (events & EPOLLOUT) == 0) {
      int err = sockopt_error(c->bfd);
      if (err != 0) return connect_failed(c, err);
      if ((events & (EPOLLERR | EPOLLHUP)) != 0) return connect_failed(c, ECONNREFUSED);
      return;
    }
    return conn_connected(c, events);
  }
  if (events & EPOLLERR) {
    int err = sockopt_error(backend ? c->bfd : c->cfd);
    if (err != 0) return conn_close(c, backend ? RESET_CLIENT : RESET_BACKEND);
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) *(backend ? &c->b_rd : &c->c_rd) = 1;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) *(backend ? &c->b_hup : &c->c_hup) = 1;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) *(backend ? &c->b_wr : &c->c_wr) = 1;
  conn_run(c);
}

// Starts the connect to `ss`; failures are reported by connect_failed (the conn is gone after it).
static void conn_connect(Conn* c, const struct sockaddr_storage* ss, socklen_t len) {
  Relay* r = c->relay;
  memcpy(&c->target, ss, len);
  int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return connect_failed(c, errno);
  c->bfd = fd;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (const struct sockaddr*)ss, len) != 0 && errno != EINPROGRESS) return connect_failed(c, errno);
  int e = epoll_add(r, fd, &c->bend, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
  if (e < 0) return connect_failed(c, -e);
  c->state = CONN_CONNECTING;
  c->since = uv_now(r->loop);
  link_append(&r->connecting, &c->byTime);
  if (!r->timerArmed) timer_arm(r);
}

static void on_timer(uv_timer_t* t) {
  Relay* r = (Relay*)t->data;
  r->timerArmed = 0;
  uint64_t now = uv_now(r->loop);
  r->inBatch = 1;
  while (!link_empty(&r->connecting)) {
    Conn* c = CONN_OF(r->connecting.next, byTime);
    if (c->since + r->connectMs > now) break;
    connect_failed(c, ETIMEDOUT);
  }
  // Idle: closed both ways without a reset, as the Node path's destroy() on 'timeout'.
  while (!link_empty(&r->relaying)) {
    Conn* c = CONN_OF(r->relaying.next, byTime);
    if (c->since + r->idleMs > now) break;
    conn_close(c, CLOSE_PLAIN);
  }
  if (r->pausedUntil != 0 && r->pausedUntil <= now) {
    r->pausedUntil = 0;
    for (int i = 0; i < r->nlisteners; i++) {
      Listener* l = r->listeners[i];
      if (l == NULL || !l->paused || l->dead) continue;
      l->paused = 0;
      struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &l->end};
      epoll_ctl(r->epfd, EPOLL_CTL_MOD, l->fd, &ev);
    }
  }
  r->inBatch = 0;
  free_dead(r);
  if (r->closing) relay_free_if_done(r);
  else timer_arm(r);
}

// ---- accepting

static void listener_accept(Listener* l) {
  Relay* r = l->relay;
  for (int i = 0; i < ACCEPT_BATCH && !l->dead && !r->closing; i++) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of fds: a level-triggered listener would wake the loop at once, again and again. It
        // rests for a while instead; the backlog waits (the kernel drops SYNs past it).
        struct epoll_event ev = {.events = 0, .data.ptr = &l->end};
        epoll_ctl(r->epfd, EPOLL_CTL_MOD, l->fd, &ev);
        l->paused = 1;
        if (r->pausedUntil == 0) r->pausedUntil = uv_now(r->loop) + ACCEPT_PAUSE_MS;
        timer_arm(r);
      }
      return;
    }
    Conn* c = calloc(1, sizeof *c);
    if (c == NULL || conn_slot(r, c) != 0) {
      free(c);
      set_linger_zero(fd);
      close(fd);
      continue;
    }
    c->relay = r;
    c->listener = l;
    c->cfd = fd;
    c->bfd = -1;
    c->up.pipe[0] = c->up.pipe[1] = c->down.pipe[0] = c->down.pipe[1] = -1;
    c->cend.kind = END_CLIENT;
    c->cend.owner = c;
    c->bend.kind = END_BACKEND;
    c->bend.owner = c;
    c->state = CONN_WAITING;
    link_init(&c->byTime);
    link_append(&l->conns, &c->byListener);
    l->stats[0]++;
    l->stats[1]++;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // Watched from now on (edge-triggered): what it sends before the backend is up is recorded.
    if (epoll_add(r, fd, &c->cend, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
      conn_close(c, RESET_CLIENT);
      continue;
    }
    if (l->ntargets > 0) {
      uint32_t k = l->turn++ % (uint32_t)l->ntargets;
      conn_connect(c, &l->targets[k], l->targetLens[k]);
    } else {
      call_js(r, EVENT_ACCEPT, l, c->id, 0, NULL);
    }
  }
}

static void free_dead(Relay* r) {
  while (r->deadConns != NULL) {
    Conn* c = r->deadConns;
    r->deadConns = c->nextDead;
    free(c);
  }
  while (r->deadListeners != NULL) {
    Listener* l = r->deadListeners;
    r->deadListeners = l->nextDead;
    free(l);
  }
}

static void relay_free_if_done(Relay* r) {
  if (r->closing && r->handlesOpen == 0 && r->finalized && !r->inBatch) {
    free_dead(r);
    free(r->slots);
    free(r->freeSlots);
    free(r->gens);
    free(r->listeners);
    free(r);
  }
}

static void on_epoll(uv_poll_t* handle, int status, int events) {
  (void)status;
  (void)events;
  Relay* r = (Relay*)handle->data;
  if (r->closing) return;
  struct epoll_event evs[EPOLL_BATCH];
  int n = epoll_wait(r->epfd, evs, EPOLL_BATCH, 0);
  r->inBatch = 1;
  for (int i = 0; i < n && !r->closing; i++) {
    End* end = (End*)evs[i].data.ptr;
    if (end->kind == END_LISTENER) {
      Listener* l = (Listener*)end->owner;
      if (!l->dead) listener_accept(l);
    } else {
      on_conn_event((Conn*)end->owner, end->kind == END_BACKEND, evs[i].events);
    }
  }
  r->inBatch = 0;
  free_dead(r);
  if (r->closing) relay_free_if_done(r);
  else if (!r->timerArmed) timer_arm(r);
}

// ---- lifecycle

static void listener_close(Listener* l) {
  if (l->dead) return;
  Relay* r = l->relay;
  l->dead = 1;
  close(l->fd);
  l->fd = -1;
  // Open connections are closed as the Node path's destroy() of each socket does.
  while (!link_empty(&l->conns)) conn_close(CONN_OF(l->conns.next, byListener), CLOSE_PLAIN);
  for (int i = 0; i < r->nlisteners; i++)
    if (r->listeners[i] == l) r->listeners[i] = NULL;
  if (r->inBatch) {
    l->nextDead = r->deadListeners;
    r->deadListeners = l;
  } else {
    free(l);
  }
}

static void on_handle_closed(uv_handle_t* h) {
  Relay* r = (Relay*)h->data;
  r->handlesOpen--;
  if (r->handlesOpen == 0 && r->cleanup != NULL) {
    napi_remove_async_cleanup_hook(r->cleanup);
    r->cleanup = NULL;
  }
  relay_free_if_done(r);
}

static void relay_begin_close(Relay* r) {
  if (r->closing) return;
  int wasInBatch = r->inBatch;
  r->inBatch = 1;  // conns and listeners are freed below, not while closing them
  for (int i = 0; i < r->nlisteners; i++)
    if (r->listeners[i] != NULL) listener_close(r->listeners[i]);
  r->inBatch = wasInBatch;
  r->closing = 1;
  if (!wasInBatch) free_dead(r);
  for (int i = 0; i < r->npipes; i++) {
    close(r->pipes[i][0]);
    close(r->pipes[i][1]);
  }
  r->npipes = 0;
  uv_poll_stop(&r->poll);
  close(r->epfd);
  r->epfd = -1;
  if (r->callback != NULL) {
    napi_delete_reference(r->env, r->callback);
    r->callback = NULL;
  }
  if (r->async != NULL) {
    napi_async_destroy(r->env, r->async);
    r->async = NULL;
  }
  uv_close((uv_handle_t*)&r->poll, on_handle_closed);
  uv_close((uv_handle_t*)&r->timer, on_handle_closed);
}

static void on_env_cleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  (void)handle;
  relay_begin_close((Relay*)arg);
}

static void on_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  Relay* r = (Relay*)data;
  r->finalized = 1;
  relay_begin_close(r);
  relay_free_if_done(r);
}

static Relay* relay_of(napi_env env, napi_value v) {
  void* data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "MESHDNS_RELAY", "not a relay handle");
    return NULL;
  }
  return (Relay*)data;
}


static napi_value int_value(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

// create(connectMs, idleMs, onEvent) -> handle. onEvent(kind, listenerId, connId, errno, target):
// kind 1 (accept: a route without static targets; call connect or refuse), 2 (connect failed: the
// client was reset; errno and "address:port").
static napi_value relay_create(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t connectMs = 0, idleMs = 0;
  if (argc < 3 || napi_get_value_uint32(env, argv[0], &connectMs) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &idleMs) != napi_ok) {
    napi_throw_type_error(env, "MESHDNS_RELAY", "create(connectMs, idleMs, onEvent)");
    return NULL;
  }
  Relay* r = calloc(1, sizeof *r);
  if (r == NULL) {
    napi_throw_error(env, "MESHDNS_RELAY", "out of memory");
    return NULL;
  }
  r->env = env;
  r->connectMs = connectMs;
  r->idleMs = idleMs;
  link_init(&r->connecting);
  link_init(&r->relaying);
  r->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (r->epfd < 0 || napi_get_uv_event_loop(env, &r->loop) != napi_ok ||
      uv_poll_init(r->loop, &r->poll, r->epfd) != 0) {
    if (r->epfd >= 0) close(r->epfd);
    free(r);
    napi_throw_error(env, "MESHDNS_RELAY", "cannot set up the relay's epoll set");
    return NULL;
  }
  uv_timer_init(r->loop, &r->timer);
  // The listeners' poll keeps the loop alive; the timer alone must not (Node's socket timers do not).
  uv_unref((uv_handle_t*)&r->timer);
  r->poll.data = r;
  r->timer.data = r;
  r->handlesOpen = 2;
  napi_value handle, resource, name;
  CHECK(napi_create_external(env, r, on_finalize, NULL, &handle));
  CHECK(napi_create_reference(env, argv[2], 1, &r->callback));
  CHECK(napi_create_object(env, &resource));
  CHECK(napi_create_string_utf8(env, "meshdns.relay", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, resource, name, &r->async));
  CHECK(napi_add_async_cleanup_hook(env, on_env_cleanup, r, &r->cleanup));
  uv_poll_start(&r->poll, UV_READABLE, on_epoll);
  return handle;
}

// listen(handle, host, port, backlog) -> listener id, or -errno (EADDRNOTAVAIL, EADDRINUSE...).
// SO_REUSEADDR as libuv sets it for Node's listeners.
static napi_value relay_listen(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Relay* r = relay_of(env, argv[0]);
  if (r == NULL) return NULL;
  char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  size_t hostLen = 0;
  int32_t port = 0, backlog = 0;
  CHECK(napi_get_value_string_utf8(env, argv[1], host, sizeof host, &hostLen));
  CHECK(napi_get_value_int32(env, argv[2], &port));
  CHECK(napi_get_value_int32(env, argv[3], &backlog));
  if (r->closing) return int_value(env, -EBADF);
  struct sockaddr_storage ss;
  socklen_t len = 0;
  int family = parse_address(host, port, &ss, &len);
  if (family < 0 || port < 0 || port > 65535) return int_value(env, -EINVAL);
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return int_value(env, -errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr*)&ss, len) != 0 || listen(fd, backlog) != 0) {
    int err = errno;
    close(fd);
    return int_value(env, -err);
  }
  // Ids of closed listeners are reused, so routes that come and go do not grow the table.
  int id = 0;
  while (id < r->nlisteners && r->listeners[id] != NULL) id++;
  Listener* l = calloc(1, sizeof *l);
  Listener** grown = id < r->nlisteners ? r->listeners
                                        : realloc(r->listeners, (size_t)(r->nlisteners + 1) * sizeof *grown);
  if (l == NULL || grown == NULL) {
    free(l);
    close(fd);
    return int_value(env, -ENOMEM);
  }
  r->listeners = grown;
  if (id == r->nlisteners) r->nlisteners++;
  l->relay = r;
  l->fd = fd;
  l->id = id;
  l->end.kind = END_LISTENER;
  l->end.owner = l;
  link_init(&l->conns);
  r->listeners[id] = l;
  // Level-triggered: a batch cut at ACCEPT_BATCH continues on the next turn of the loop.
  int e = epoll_add(r, fd, &l->end, EPOLLIN);
  if (e < 0) {
    listener_close(l);
    return int_value(env, e);
  }
  return int_value(env, l->id);
}

static Listener* listener_arg(napi_env env, Relay* r, napi_value v) {
  int32_t id = -1;
  if (napi_get_value_int32(env, v, &id) != napi_ok || id < 0 || id >= r->nlisteners) return NULL;
  return r->listeners[id];
}

// targets(handle, listenerId, hosts: string[], ports: number[]) -> 0 or -EINVAL: the addresses C
// connects to round-robin by itself (STATIC routes); none: every accept is handed to JavaScript.
static napi_value relay_targets(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Relay* r = relay_of(env, argv[0]);
  if (r == NULL) return NULL;
  Listener* l = listener_arg(env, r, argv[1]);
  if (l == NULL) return int_value(env, -EBADF);
  uint32_t n = 0, np = 0;
  CHECK(napi_get_array_length(env, argv[2], &n));
  CHECK(napi_get_array_length(env, argv[3], &np));
  if (n != np || n > MAX_TARGETS) return int_value(env, -EINVAL);
  struct sockaddr_storage ss[MAX_TARGETS];
  socklen_t lens[MAX_TARGETS];
  for (uint32_t i = 0; i < n; i++) {
    napi_value h, p;
    char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    size_t hostLen = 0;
    int32_t port = 0;
    CHECK(napi_get_element(env, argv[2], i, &h));
    CHECK(napi_get_element(env, argv[3], i, &p));
    if (napi_get_value_string_utf8(env, h, host, sizeof host, &hostLen) != napi_ok ||
        napi_get_value_int32(env, p, &port) != napi_ok || port < 1 || port > 65535 ||
        parse_address(host, port, &ss[i], &lens[i]) < 0)
      return int_value(env, -EINVAL);
  }
  memcpy(l->targets, ss, sizeof ss[0] * n);
  memcpy(l->targetLens, lens, sizeof lens[0] * n);
  l->ntargets = (int)n;
  return int_value(env, 0);
}

// connect(handle, connId, host, port) -> 0: connecting (a failure comes as event 2); 1: the connection
// is gone (its listener closed meanwhile); -EINVAL: not an address (nothing done).
static napi_value relay_connect(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Relay* r = relay_of(env, argv[0]);
  if (r == NULL) return NULL;
  uint32_t id = 0;
  int32_t port = 0;
  char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  size_t hostLen = 0;
  CHECK(napi_get_value_uint32(env, argv[1], &id));
  CHECK(napi_get_value_string_utf8(env, argv[2], host, sizeof host, &hostLen));
  CHECK(napi_get_value_int32(env, argv[3], &port));
  if (r->closing) return int_value(env, 1);
  Conn* c = conn_by_id(r, id);
  if (c == NULL || c->state != CONN_WAITING) return int_value(env, 1);
  struct sockaddr_storage ss;
  socklen_t len = 0;
  if (port < 1 || port > 65535 || parse_address(host, port, &ss, &len) < 0) return int_value(env, -EINVAL);
  int wasInBatch = r->inBatch;
  r->inBatch = 1;
  conn_connect(c, &ss, len);
  r->inBatch = wasInBatch;
  if (!wasInBatch) free_dead(r);
  return int_value(env, 0);
}

// refuse(handle, connId): resets a waiting client (no backend address, resolution failed).
static napi_value relay_refuse(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Relay* r = relay_of(env, argv[0]);
  if (r == NULL) return NULL;
  uint32_t id = 0;
  CHECK(napi_get_value_uint32(env, argv[1], &id));
  if (r->closing) return NULL;
  Conn* c = conn_by_id(r, id);
  if (c != NULL && c->state == CONN_WAITING) {
    c->listener->stats[4]++;
    conn_close(c, RESET_CLIENT);
  }
  return NULL;
}

// stats(handle, listenerId, out: Float64Array(5)): active, total, bytesToBackend, bytesToClient,
// connectErrors.
static napi_value relay_stats(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Relay* r = relay_of(env, argv[0]);
  if (r == NULL) return NULL;
  Listener* l = listener_arg(env, r, argv[1]);
  napi_typedarray_type type;
  size_t count = 0, offset = 0;
  napi_value ab;
  void* p = NULL;
  if (napi_get_typedarray_info(env, argv[2], &type, &count, &p, &ab, &offset) != napi_ok ||
      type != napi_float64_array || count < STAT_FIELDS) {
    napi_throw_type_error(env, "MESHDNS_RELAY", "stats(handle, listenerId, Float64Array(5))");
    return NULL;
  }
  double* out = (double*)p;
  for (int i = 0; i < STAT_FIELDS; i++) out[i] = l != NULL ? l->stats[i] : 0;
  return NULL;
}

// unlisten(handle, listenerId): stops accepting and closes the listener's open connections.
static napi_value relay_unlisten(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Relay* r = relay_of(env, argv[0]);
  if (r == NULL) return NULL;
  Listener* l = listener_arg(env, r, argv[1]);
  if (l != NULL && !r->closing) listener_close(l);
  return NULL;
}

static napi_value relay_destroy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Relay* r = relay_of(env, argv[0]);
  if (r == NULL) return NULL;
  relay_begin_close(r);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"create", NULL, relay_create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"listen", NULL, relay_listen, NULL, NULL, NULL, napi_enumerable, NULL},
      {"targets", NULL, relay_targets, NULL, NULL, NULL, napi_enumerable, NULL},
      {"connect", NULL, relay_connect, NULL, NULL, NULL, napi_enumerable, NULL},
      {"refuse", NULL, relay_refuse, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stats", NULL, relay_stats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unlisten", NULL, relay_unlisten, NULL, NULL, NULL, napi_enumerable, NULL},
      {"destroy", NULL, relay_destroy, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_value v;
  napi_create_int32(env, MAX_TARGETS, &v);
  napi_set_named_property(env, exports, "maxTargets", v);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
