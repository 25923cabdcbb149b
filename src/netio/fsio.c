// Reading many small files off the JavaScript thread (issue 8): a manifests folder of one file per
// object costs five system calls per file (open, fstat, read, fstat, close; a file that fills the read
// to its size needs no read past it). Through node:fs each is a call from JavaScript and a Stats
// object, on the controller's thread; here a batch of files is read in one work item on libuv's thread
// pool, so the controller parses one batch while the next is read.
// The same checks as src/sources/read.ts: a regular file, read whole between two stats that agree.
// Anything else is reported, not decided: JavaScript reads such a file again itself. The folder's
// periodic rescan compares every file's stat with the one it was read with (checkStamps), off the
// controller's thread, from paths and stamps kept in two buffers between rescans, and lists a folder
// with a digest of its entries (listDirs), so that one whose times moved but whose entries did not is
// known as such without a string made per entry.
#define _GNU_SOURCE
#define ADDON_ERROR_CODE "MESHDNS_FSIO"
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>  // isnan: a macro, no libm
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

// Per file, FIELDS doubles: status, ino, size, mtimeMs, ctimeMs, readAtMs, offset of its bytes.
#define FIELDS 7
enum {
  ST_READ = 0,       // read whole, unchanged while read: `size` bytes at `offset`
  ST_NOT_A_FILE = 1, // a folder, a FIFO, a device
  ST_TOO_BIG = 2,    // over maxBytes: not read (its stat is given)
  ST_CHANGED = 3,    // its size or times moved while it was read
  ST_SKIPPED = 4,    // the batch's bytes were used up before it: not read
  // below 0: -errno of open, fstat or read
};

typedef enum { READ_FILES, LIST_DIRS } Mode;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  // LIST_DIRS: list and digest each folder, read no file.
  Mode mode;
  char** paths;
  uint32_t count;
  double max_bytes;
  size_t batch_bytes;
  double* meta;
  char* data;
  size_t used;
  size_t cap;
} Batch;

// Milliseconds as Node computes a Stats' mtimeMs from the same two numbers, so that a stamp made
// from this read compares equal to a later fs.statSync of the same file.
static double ms_of(struct timespec t) {
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static bool same_stat(const struct stat* a, const struct stat* b) {
  return a->st_ino == b->st_ino && a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
         a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
         a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static bool reserve(Batch* b, size_t more) {
  if (b->used + more <= b->cap) return true;
  size_t cap = b->cap == 0 ? 65536 : b->cap;
  while (cap < b->used + more) cap *= 2;
  char* grown = realloc(b->data, cap);
  if (grown == NULL) return false;
  b->data = grown;
  b->cap = cap;
  return true;
}

// One file into meta[0..FIELDS) and, when read, its bytes at the end of b->data.
static void read_one(Batch* b, const char* path, double* m) {
  m[0] = ST_SKIPPED;
  if (b->used >= b->batch_bytes) return;
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    m[0] = -errno;
    return;
  }
  struct stat before;
  if (fstat(fd, &before) != 0) {
    m[0] = -errno;
    close(fd);
    return;
  }
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  // Whole milliseconds, as Date.now() gives them: the settle check compares them with a ctime.
  double now_ms = (double)now.tv_sec * 1000.0 + (double)(now.tv_nsec / 1000000);
  m[1] = (double)before.st_ino;
  m[2] = (double)before.st_size;
  m[3] = ms_of(before.st_mtim);
  m[4] = ms_of(before.st_ctim);
  m[5] = now_ms;
  m[6] = (double)b->used;
  if (!S_ISREG(before.st_mode)) {
    m[0] = ST_NOT_A_FILE;
  } else if ((double)before.st_size > b->max_bytes) {
    m[0] = ST_TOO_BIG;
  } else {
    // One byte past the size shows a file that grew; a regular file's read is short only at its end.
    size_t want = (size_t)before.st_size + 1;
    if (!reserve(b, want)) {
      m[0] = -ENOMEM;
      close(fd);
      return;
    }
    size_t got = 0;
    while (got < want) {
      size_t asked = want - got;
      ssize_t n = pread(fd, b->data + b->used + got, asked, (off_t)got);
      if (n < 0) {
        if (errno == EINTR) continue;
        m[0] = -errno;
        close(fd);
        return;
      }
      got += (size_t)n;
      // A regular file's read is short only at its end: no second read to see nothing come.
      if ((size_t)n < asked) break;
    }
    struct stat after;
    if (got != (size_t)before.st_size || fstat(fd, &after) != 0 || !same_stat(&before, &after)) {
      m[0] = ST_CHANGED;
    } else {
      m[0] = ST_READ;
      b->used += got;
    }
  }
  close(fd);
}

// splitmix64's finalizer: every bit of the name's hash reaches every bit of the result.
static uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// FNV-1a over the entry's type and name from `seed`, mixed.
static uint64_t entry_hash(uint64_t seed, char type, const char* name) {
  uint64_t h = (seed ^ (unsigned char)type) * 0x100000001b3ULL;
  for (const unsigned char* c = (const unsigned char*)name; *c != '\0'; c++) h = (h ^ *c) * 0x100000001b3ULL;
  return mix64(h);
}

// Orders entries (offsets into `names`, each a type byte then the name) by name, as strcmp does.
static int by_name(const void* a, const void* b, void* names) {
  return strcmp((const char*)names + *(const size_t*)a + 1, (const char*)names + *(const size_t*)b + 1);
}

// One folder's entries, dot-names left out as the walk leaves them out (src/sources/listing.ts), from one
// readdir: at m[6] 16 bytes that are the same whenever the set of (name, type) pairs is the same, in
// whatever order readdir gives them (the sums of two 64-bit hashes of each pair), then the entries
// themselves in name order (as node's readdir gives them: libuv sorts scandir's), each its type byte, its
// name and a NUL (m[2] bytes, m[1] entries). The type is what node's Dirent reports: d_type, or lstat's
// where the file system gives none ('f', 'd', 'l', 'o'ther, '?').
static void list_one(Batch* b, const char* path, double* m) {
  DIR* dir = opendir(path);
  if (dir == NULL) {
    m[0] = -errno;
    return;
  }
  char* names = NULL;
  size_t used = 0, cap = 0;
  size_t* offsets = NULL;
  size_t count = 0, slots = 0;
  uint64_t sum_a = 0, sum_b = 0;
  int err = 0;
  for (;;) {
    errno = 0;
    struct dirent* e = readdir(dir);
    if (e == NULL) {
      err = errno;
      break;
    }
    if (e->d_name[0] == '.') continue;
    unsigned char t = e->d_type;
    struct stat s;
    if (t == DT_UNKNOWN && fstatat(dirfd(dir), e->d_name, &s, AT_SYMLINK_NOFOLLOW) == 0) t = IFTODT(s.st_mode);
    char type = t == DT_REG ? 'f' : t == DT_DIR ? 'd' : t == DT_LNK ? 'l' : t == DT_UNKNOWN ? '?' : 'o';
    size_t len = strlen(e->d_name);
    if (used + len + 2 > cap) {
      size_t grown_cap = cap == 0 ? 65536 : cap;
      while (grown_cap < used + len + 2) grown_cap *= 2;
      char* grown = realloc(names, grown_cap);
      if (grown == NULL) {
        err = ENOMEM;
        break;
      }
      names = grown;
      cap = grown_cap;
    }
    if (count == slots) {
      size_t more = slots == 0 ? 1024 : slots * 2;
      size_t* grown = realloc(offsets, more * sizeof *offsets);
      if (grown == NULL) {
        err = ENOMEM;
        break;
      }
      offsets = grown;
      slots = more;
    }
    offsets[count++] = used;
    names[used++] = type;
    memcpy(names + used, e->d_name, len + 1);
    used += len + 1;
    sum_a += entry_hash(0xcbf29ce484222325ULL, type, e->d_name);
    sum_b += entry_hash(0x6a09e667f3bcc909ULL, type, e->d_name);
  }
  closedir(dir);
  if (err == 0 && !reserve(b, 16 + used)) err = ENOMEM;
  if (err != 0) {
    m[0] = -err;
    free(names);
    free(offsets);
    return;
  }
  if (count > 1) qsort_r(offsets, count, sizeof *offsets, by_name, names);
  size_t at = b->used;
  memcpy(b->data + at, &sum_a, 8);
  memcpy(b->data + at + 8, &sum_b, 8);
  b->used += 16;
  for (size_t i = 0; i < count; i++) {
    size_t len = strlen(names + offsets[i] + 1) + 2;
    memcpy(b->data + b->used, names + offsets[i], len);
    b->used += len;
  }
  free(names);
  free(offsets);
  m[0] = ST_READ;
  m[1] = (double)count;
  m[2] = (double)(b->used - at - 16);
  m[6] = (double)at;
}

static void execute(napi_env env, void* data) {
  (void)env;
  Batch* b = data;
  for (uint32_t i = 0; i < b->count; i++) {
    double* m = b->meta + (size_t)i * FIELDS;
    if (b->mode == LIST_DIRS) list_one(b, b->paths[i], m);
    else read_one(b, b->paths[i], m);
  }
}

static void free_batch(Batch* b) {
  if (b->paths != NULL)
    for (uint32_t i = 0; i < b->count; i++) free(b->paths[i]);
  free(b->paths);
  free(b->meta);
  free(b->data);
  free(b);
}

static void free_bytes(napi_env env, void* bytes, void* hint) {
  (void)env;
  (void)hint;
  free(bytes);
}

// Resolves with [meta: Float64Array, bytes: Buffer]; the buffer takes b->data over.
static void complete(napi_env env, napi_status status, void* data) {
  Batch* b = data;
  napi_value result = NULL;
  napi_value meta_ab, meta, bytes, pair;
  void* meta_mem = NULL;
  size_t meta_len = (size_t)b->count * FIELDS;
  bool ok = status == napi_ok &&
            napi_create_arraybuffer(env, meta_len * sizeof(double), &meta_mem, &meta_ab) == napi_ok;
  if (ok) {
    if (meta_len > 0) memcpy(meta_mem, b->meta, meta_len * sizeof(double));
    ok = napi_create_typedarray(env, napi_float64_array, meta_len, meta_ab, 0, &meta) == napi_ok;
  }
  if (ok && b->used > 0) {
    // Handed over at its size: the buffer's owner counts only what it is told.
    char* fitted = b->used < b->cap ? realloc(b->data, b->used) : NULL;
    if (fitted != NULL) b->data = fitted;
    ok = napi_create_external_buffer(env, b->used, b->data, free_bytes, NULL, &bytes) == napi_ok;
    if (ok) b->data = NULL;
  } else if (ok) {
    ok = napi_create_buffer(env, 0, NULL, &bytes) == napi_ok;
  }
  if (ok) ok = napi_create_array_with_length(env, 2, &pair) == napi_ok;
  if (ok) ok = napi_set_element(env, pair, 0, meta) == napi_ok && napi_set_element(env, pair, 1, bytes) == napi_ok;
  if (ok) {
    result = pair;
    napi_resolve_deferred(env, b->deferred, result);
  } else {
    napi_value message, error;
    napi_create_string_utf8(env, "fsio: the batch's results could not be handed over", NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &error);
    napi_reject_deferred(env, b->deferred, error);
  }
  napi_delete_async_work(env, b->work);
  free_batch(b);
}

// A work item for `paths`, queued; its promise. Throws (returns NULL) on bad arguments.
static napi_value start(napi_env env, napi_value paths, Mode mode, double max_bytes, double batch_bytes) {
  uint32_t count = 0;
  CHECK(napi_get_array_length(env, paths, &count));
  if (!(max_bytes >= 0 && max_bytes <= 9007199254740992.0 && batch_bytes >= 0 && batch_bytes <= 9007199254740992.0)) {
    napi_throw_type_error(env, ADDON_ERROR_CODE, "fsio: maxBytes and batchBytes must be numbers from 0 to 2^53");
    return NULL;
  }
  Batch* b = calloc(1, sizeof *b);
  if (b == NULL) {
    napi_throw_error(env, ADDON_ERROR_CODE, "fsio: out of memory");
    return NULL;
  }
  b->mode = mode;
  b->max_bytes = max_bytes;
  b->batch_bytes = batch_bytes < 1 ? 1 : (size_t)batch_bytes;
  b->paths = calloc(count > 0 ? count : 1, sizeof(char*));
  b->meta = calloc(count > 0 ? (size_t)count * FIELDS : 1, sizeof(double));
  if (b->paths == NULL || b->meta == NULL) {
    free_batch(b);
    napi_throw_error(env, ADDON_ERROR_CODE, "fsio: out of memory");
    return NULL;
  }
  // Set now: free_batch frees the paths copied so far (the rest are NULL) if one fails below.
  b->count = count;
  for (uint32_t i = 0; i < count; i++) {
    napi_value p;
    size_t len = 0;
    if (napi_get_element(env, paths, i, &p) != napi_ok ||
        napi_get_value_string_utf8(env, p, NULL, 0, &len) != napi_ok) {
      free_batch(b);
      napi_throw_type_error(env, ADDON_ERROR_CODE, "fsio: every path must be a string");
      return NULL;
    }
    b->paths[i] = malloc(len + 1);
    if (b->paths[i] == NULL) {
      free_batch(b);
      napi_throw_error(env, ADDON_ERROR_CODE, "fsio: out of memory");
      return NULL;
    }
    napi_get_value_string_utf8(env, p, b->paths[i], len + 1, &len);
    // A path with a NUL in it would name another file: report it as not found, never open it.
    if (strlen(b->paths[i]) != len) b->paths[i][0] = '\0';
  }
  napi_value promise, name;
  if (napi_create_promise(env, &b->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "meshdns:readFiles", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, execute, complete, b, &b->work) != napi_ok) {
    free_batch(b);
    return throw_last(env);
  }
  if (napi_queue_async_work(env, b->work) != napi_ok) {
    napi_delete_async_work(env, b->work);
    free_batch(b);
    return throw_last(env);
  }
  return promise;
}

// readFiles(paths: string[], maxBytes: number, batchBytes: number): Promise<[Float64Array, Buffer]>.
// Files are read in order until their bytes reach batchBytes; the rest are ST_SKIPPED.
static napi_value read_files(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv, "readFiles(paths, maxBytes, batchBytes)")) return NULL;
  double max_bytes = 0, batch_bytes = 0;
  CHECK(napi_get_value_double(env, argv[1], &max_bytes));
  CHECK(napi_get_value_double(env, argv[2], &batch_bytes));
  return start(env, argv[0], READ_FILES, max_bytes, batch_bytes);
}

// listDirs(paths: string[]): Promise<[Float64Array, Buffer]>: per folder, in readFiles' layout, status
// (ST_READ when listed, or -errno), the count of its entries that are not dot-names, their bytes, and
// the offset in the buffer of their 16-byte digest, the entries after it (list_one).
static napi_value list_dirs(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, "listDirs(paths)")) return NULL;
  return start(env, argv[0], LIST_DIRS, 0, 1);
}

// checkStamps(paths: Buffer, stamps: Float64Array, count: number): Promise<Uint32Array>. `paths` holds
// `count` paths, each ended by a NUL; `stamps` four numbers per path: the ino, size, mtimeMs and
// ctimeMs it was read with (ino NaN: none, not checked). Resolves with the indices of the paths whose
// stat (symlinks followed, as statSync) no longer matches: changed, gone, not a regular file. The two
// buffers are held until it settles; the caller must not write to them meanwhile.
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref paths_ref;
  napi_ref stamps_ref;
  const char* paths;
  size_t paths_len;
  const double* stamps;
  uint32_t count;
  uint32_t* changed;
  uint32_t n_changed;
  int err;
} Check;

static bool stamp_matches(const char* path, const double* s) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (double)st.st_ino == s[0] && (double)st.st_size == s[1] &&
         ms_of(st.st_mtim) == s[2] && ms_of(st.st_ctim) == s[3];
}

static void check_execute(napi_env env, void* data) {
  (void)env;
  Check* c = data;
  c->changed = malloc((c->count > 0 ? c->count : 1) * sizeof *c->changed);
  if (c->changed == NULL) {
    c->err = ENOMEM;
    return;
  }
  const char* p = c->paths;
  const char* end = c->paths + c->paths_len;
  for (uint32_t i = 0; i < c->count; i++) {
    const char* nul = p < end ? memchr(p, '\0', (size_t)(end - p)) : NULL;
    if (nul == NULL) {
      c->err = EINVAL;
      return;
    }
    const double* s = c->stamps + (size_t)i * 4;
    if (!isnan(s[0]) && !stamp_matches(p, s)) c->changed[c->n_changed++] = i;
    p = nul + 1;
  }
}

static void check_complete(napi_env env, napi_status status, void* data) {
  Check* c = data;
  napi_value ab, indices, error, message;
  void* mem = NULL;
  bool ok = status == napi_ok && c->err == 0 &&
            napi_create_arraybuffer(env, (size_t)c->n_changed * sizeof(uint32_t), &mem, &ab) == napi_ok;
  if (ok) {
    if (c->n_changed > 0) memcpy(mem, c->changed, (size_t)c->n_changed * sizeof(uint32_t));
    ok = napi_create_typedarray(env, napi_uint32_array, c->n_changed, ab, 0, &indices) == napi_ok;
  }
  if (ok) {
    napi_resolve_deferred(env, c->deferred, indices);
  } else {
    const char* why = c->err == EINVAL ? "fsio: checkStamps: fewer paths than count" : "fsio: checkStamps failed";
    napi_create_string_utf8(env, why, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &error);
    napi_reject_deferred(env, c->deferred, error);
  }
  napi_delete_reference(env, c->paths_ref);
  napi_delete_reference(env, c->stamps_ref);
  napi_delete_async_work(env, c->work);
  free(c->changed);
  free(c);
}

static napi_value check_stamps(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv, "checkStamps(paths, stamps, count)")) return NULL;
  bool is_buffer = false, is_typed = false;
  CHECK(napi_is_buffer(env, argv[0], &is_buffer));
  CHECK(napi_is_typedarray(env, argv[1], &is_typed));
  napi_typedarray_type type = napi_int8_array;
  size_t stamps_len = 0;
  void* stamps = NULL;
  if (is_typed) CHECK(napi_get_typedarray_info(env, argv[1], &type, &stamps_len, &stamps, NULL, NULL));
  double count = -1;
  if (napi_get_value_double(env, argv[2], &count) != napi_ok) count = -1;
  if (!is_buffer || !is_typed || type != napi_float64_array || !(count >= 0 && count <= 4294967295.0) ||
      (double)(uint32_t)count != count || (double)stamps_len < count * 4) {
    napi_throw_type_error(env, ADDON_ERROR_CODE,
                          "fsio: checkStamps(paths: Buffer, stamps: Float64Array of 4 per path, count: integer)");
    return NULL;
  }
  Check* c = calloc(1, sizeof *c);
  if (c == NULL) {
    napi_throw_error(env, ADDON_ERROR_CODE, "fsio: out of memory");
    return NULL;
  }
  void* paths = NULL;
  napi_value promise, name;
  if (napi_get_buffer_info(env, argv[0], &paths, &c->paths_len) != napi_ok) {
    free(c);
    return throw_last(env);
  }
  c->paths = paths;
  c->stamps = stamps;
  c->count = (uint32_t)count;
  if (napi_create_reference(env, argv[0], 1, &c->paths_ref) != napi_ok) {
    free(c);
    return throw_last(env);
  }
  if (napi_create_reference(env, argv[1], 1, &c->stamps_ref) != napi_ok) {
    napi_delete_reference(env, c->paths_ref);
    free(c);
    return throw_last(env);
  }
  if (napi_create_promise(env, &c->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "meshdns:checkStamps", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, check_execute, check_complete, c, &c->work) != napi_ok ||
      napi_queue_async_work(env, c->work) != napi_ok) {
    // A promise made and never settled is left to the collector; nothing was queued.
    if (c->work != NULL) napi_delete_async_work(env, c->work);
    napi_delete_reference(env, c->paths_ref);
    napi_delete_reference(env, c->stamps_ref);
    free(c);
    return throw_last(env);
  }
  return promise;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn, fields;
  CHECK(napi_create_function(env, "readFiles", NAPI_AUTO_LENGTH, read_files, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "readFiles", fn));
  CHECK(napi_create_function(env, "checkStamps", NAPI_AUTO_LENGTH, check_stamps, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "checkStamps", fn));
  CHECK(napi_create_function(env, "listDirs", NAPI_AUTO_LENGTH, list_dirs, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "listDirs", fn));
  CHECK(napi_create_uint32(env, FIELDS, &fields));
  CHECK(napi_set_named_property(env, exports, "fields", fields));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
