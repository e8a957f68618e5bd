/*
 * alloc_probe OLD PATCH NEW: checks that fcpatch_apply takes all its memory from the workspace
 * (CApplierBuildTests.swift builds and runs it, without sanitizers, which bring their own malloc).
 *
 * It replaces malloc, calloc, realloc and free (glibc allows this and exports the originals as
 * __libc_*), so a call from the applier while `counting` is set is seen. Then:
 *   1. a workspace one byte short of fcpatch_workspace_size() is refused before any I/O;
 *   2. a workspace of exactly that size, aligned and at the worst alignment (address 1 mod 16),
 *      yields NEW byte for byte with no heap call.
 * Prints `workspace N bytes, 0 heap calls` and exits 0, or names the failed check and exits 1.
 */
#define _POSIX_C_SOURCE 200809L

#include "fcpatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static int counting;
static unsigned long heap_calls;

void *malloc(size_t n) { heap_calls += counting; return __libc_malloc(n); }
void *calloc(size_t m, size_t n) { heap_calls += counting; return __libc_calloc(m, n); }
void *realloc(void *p, size_t n) { heap_calls += counting; return __libc_realloc(p, n); }
void free(void *p) { heap_calls += counting && p != NULL; __libc_free(p); }

struct mem {
    const uint8_t *old, *patch;
    size_t old_size, patch_size;
    uint8_t *out;
    size_t out_size, out_len;
    unsigned long io_calls;
};

static int read_old(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
    struct mem *m = ctx;
    m->io_calls++;
    if (off > m->old_size || len > m->old_size - off) return -1;
    memcpy(buf, m->old + off, len);
    return 0;
}

static int read_patch(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
    struct mem *m = ctx;
    m->io_calls++;
    if (off > m->patch_size || len > m->patch_size - off) return -1;
    memcpy(buf, m->patch + off, len);
    return 0;
}

static int write_new(void *ctx, const uint8_t *buf, size_t len)
{
    struct mem *m = ctx;
    m->io_calls++;
    if (len > m->out_size - m->out_len) return -1;
    memcpy(m->out + m->out_len, buf, len);
    m->out_len += len;
    return 0;
}

static uint8_t *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b = NULL;
    long n;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) exit(2);
    b = malloc((size_t)n + 1);
    if (b == NULL || fread(b, 1, (size_t)n, f) != (size_t)n) exit(2);
    fclose(f);
    *size = (size_t)n;
    return b;
}

int main(int argc, char **argv)
{
    struct mem m;
    fcpatch_io io;
    fcpatch_header h;
    uint8_t *newb, *block;
    size_t new_size, need;
    int rc, shift;

    if (argc != 4) return 2;
    memset(&m, 0, sizeof m);
    m.old = slurp(argv[1], &m.old_size);
    m.patch = slurp(argv[2], &m.patch_size);
    newb = slurp(argv[3], &new_size);
    if (m.patch_size < FCPATCH_HEADER_SIZE || fcpatch_read_header(m.patch, m.patch_size, &h) != FCPATCH_OK) {
        puts("the patch's header is refused");
        return 1;
    }
    need = fcpatch_workspace_size(&h);
    m.out_size = new_size;
    m.out = malloc(new_size + 1);
    block = malloc(need + 16);
    io.ctx = &m;
    io.read_old = read_old;
    io.read_patch = read_patch;
    io.write_new = write_new;

    counting = 1;
    rc = fcpatch_apply(&io, m.old_size, m.patch_size, new_size, block, need - 1);
    counting = 0;
    if (rc != FCPATCH_E_WORKSPACE || m.io_calls != 1) {
        printf("one byte short: status %d after %lu callbacks, expected %d after the header read\n", rc, m.io_calls,
               FCPATCH_E_WORKSPACE);
        return 1;
    }
    for (shift = 0; shift <= 1; shift++) {
        /* block is 16-aligned (glibc); +1 makes the applier use all of its alignment slack. */
        uint8_t *ws = block + shift;
        m.out_len = 0;
        counting = 1;
        rc = fcpatch_apply(&io, m.old_size, m.patch_size, new_size, ws, need);
        counting = 0;
        if (rc != FCPATCH_OK || m.out_len != new_size || memcmp(m.out, newb, new_size) != 0) {
            printf("exact workspace at offset %d: status %d (%s), %lu of %lu bytes\n", shift, rc, fcpatch_strerror(rc),
                   (unsigned long)m.out_len, (unsigned long)new_size);
            return 1;
        }
    }
    printf("workspace %lu bytes, %lu heap calls\n", (unsigned long)need, heap_calls);
    return heap_calls == 0 ? 0 : 1;
}
