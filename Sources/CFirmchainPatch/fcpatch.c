/*
 * The firmchain1 applier (Docs/formats/FIRMCHAIN1.md; the API contract is in fcpatch.h).
 *
 * Everything lives in the caller's workspace, laid out by plan():
 *
 *   [align to 16] state | in[0] in[1] in[2] | ctl | old | out | arena[0] arena[1] arena[2]
 *
 * Each arena backs one liblzma raw LZMA2 decoder through a bump allocator, so the decoders
 * allocate nothing from the heap; an arena is lzma_raw_decoder_memusage() for the section's
 * dictionary (liblzma's own upper bound, the one its memory limits use) plus room to align
 * each allocation. The sections are decoded in step: the control section a few bytes ahead,
 * diff and extra exactly as the triples consume them.
 */
#include "fcpatch.h"

#include <lzma.h>
#include <string.h>

#define ALIGN 16u
/* Compressed bytes fetched per read_patch call, per section. */
#define IN_BUF 4096u
/* Decoded control bytes kept ahead of the parser; a triple is at most 27 bytes. */
#define CTL_BUF 256u
/* Old, diff and new bytes handled per step of an add or copy. */
#define DATA_BUF 4096u
/* A raw LZMA2 decoder makes about five allocations (stream internals, filter chain, LZ
 * decoder, LZMA2 and LZMA states, dictionary); each may cost up to ALIGN - 1 bytes of padding.
 * 32 leaves room for a liblzma that allocates more, for 512 bytes. */
#define ARENA_ALLOCS 32u

static const uint64_t two63 = (uint64_t)1 << 63;
static const uint64_t two62 = (uint64_t)1 << 62;

/* ---- bump allocator over one arena ---- */

struct arena {
    uint8_t *base; /* ALIGN-aligned */
    size_t size;
    size_t used;
};

static void *arena_alloc(void *opaque, size_t nmemb, size_t size)
{
    struct arena *a = opaque;
    size_t n, start;

    if (size != 0 && nmemb > SIZE_MAX / size) return NULL;
    n = nmemb * size;
    start = (a->used + (ALIGN - 1)) & ~(size_t)(ALIGN - 1);
    if (start < a->used || start > a->size || n > a->size - start) return NULL;
    a->used = start + n;
    return a->base + start;
}

/* Memory goes back all at once, when the caller reuses the workspace. */
static void arena_free(void *opaque, void *ptr)
{
    (void)opaque;
    (void)ptr;
}

/* ---- workspace layout ---- */

struct section {
    lzma_stream strm;
    lzma_allocator allocator;
    struct arena arena;
    uint8_t *in;
    uint64_t next;     /* file offset of the first compressed byte not yet handed to liblzma */
    uint64_t end;      /* file offset one past the section */
    uint64_t length;   /* decoded length the header names */
    uint64_t produced; /* decoded bytes handed out so far, <= length */
    int started;       /* lzma_raw_decoder succeeded: lzma_end is due */
    int ended;         /* the decoder returned LZMA_STREAM_END */
};

struct applier {
    const fcpatch_io *io;
    struct section sec[3];
    fcpatch_sha256 sha;
    uint8_t *ctl;
    size_t ctl_pos, ctl_len; /* ctl[ctl_pos ..< ctl_len] is decoded and not yet parsed */
    uint8_t *old;
    uint8_t *out;
};

struct layout {
    uint64_t state, in[3], ctl, old, out, arena[3], arena_size[3];
    uint64_t total; /* including ALIGN - 1 bytes to align an arbitrary workspace pointer */
};

static uint64_t round_up(uint64_t n) { return (n + (ALIGN - 1)) & ~(uint64_t)(ALIGN - 1); }

static void lzma2_filters(lzma_options_lzma *opt, lzma_filter f[2], uint32_t dict)
{
    /* LZMA2 carries lc/lp/pb in its chunk headers (§4): only the dictionary matters here. */
    memset(opt, 0, sizeof *opt);
    opt->dict_size = dict;
    opt->lc = LZMA_LC_DEFAULT;
    opt->lp = LZMA_LP_DEFAULT;
    opt->pb = LZMA_PB_DEFAULT;
    f[0].id = LZMA_FILTER_LZMA2;
    f[0].options = opt;
    f[1].id = LZMA_VLI_UNKNOWN;
    f[1].options = NULL;
}

/* Returns 0 if liblzma refuses a dictionary or the total does not fit in size_t. */
static int plan(const fcpatch_header *h, struct layout *l)
{
    uint64_t off = 0;
    int i;

    l->state = off;
    off += round_up(sizeof(struct applier));
    for (i = 0; i < 3; i++) {
        l->in[i] = off;
        off += IN_BUF;
    }
    l->ctl = off;
    off += CTL_BUF;
    l->old = off;
    off += DATA_BUF;
    l->out = off;
    off += DATA_BUF;
    for (i = 0; i < 3; i++) {
        lzma_options_lzma opt;
        lzma_filter f[2];
        uint64_t m;

        lzma2_filters(&opt, f, h->section[i].dictionary);
        m = lzma_raw_decoder_memusage(f);
        if (m == UINT64_MAX || m > two63) return 0;
        l->arena[i] = off;
        l->arena_size[i] = round_up(m) + (uint64_t)ARENA_ALLOCS * ALIGN;
        off += l->arena_size[i]; /* below 4 * 2^63: no wrap */
        if (off > two63) return 0;
    }
    l->total = off + (ALIGN - 1);
    return l->total <= SIZE_MAX;
}

/* ---- header (§1, §3) ---- */

static uint64_t le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    while (n-- > 0) v = v << 8 | p[n];
    return v;
}

int fcpatch_read_header(const uint8_t bytes[FCPATCH_HEADER_SIZE], uint64_t patch_size, fcpatch_header *out)
{
    static const uint8_t magic[8] = {'F', 'C', 'D', 'E', 'L', 'T', 'A', '1'};
    uint64_t off = FCPATCH_HEADER_SIZE;
    fcpatch_header h;
    int i;

    if (bytes == NULL || out == NULL) return FCPATCH_E_ARGUMENT;
    memset(out, 0, sizeof *out);
    if (patch_size < FCPATCH_HEADER_SIZE || memcmp(bytes, magic, 8) != 0) return FCPATCH_E_BAD_HEADER;
    memset(&h, 0, sizeof h);
    h.version = (uint16_t)le(bytes + 8, 2);
    h.codec = bytes[10];
    h.flags = bytes[11];
    if (h.version != 1 || h.codec != 1 || h.flags != 0) return FCPATCH_E_UNSUPPORTED;
    if (le(bytes + 12, 4) != 0) return FCPATCH_E_BAD_HEADER;
    h.old_size = le(bytes + 16, 8);
    h.new_size = le(bytes + 24, 8);
    memcpy(h.old_sha256, bytes + 32, 32);
    memcpy(h.new_sha256, bytes + 64, 32);
    h.triples = le(bytes + 96, 8);
    /* Below 2^62 (§1, as the Swift reader): every sum and difference stays in uint64_t. */
    if (h.old_size >= two62 || h.new_size >= two62 || h.triples >= two62) return FCPATCH_E_BAD_HEADER;
    for (i = 0; i < 3; i++) {
        const uint8_t *d = bytes + 104 + 24 * i;
        fcpatch_section *s = &h.section[i];

        s->compressed = le(d, 8);
        s->length = le(d + 8, 8);
        s->dictionary = (uint32_t)le(d + 16, 4);
        if (le(d + 20, 4) != 0) return FCPATCH_E_BAD_HEADER;
        if (s->dictionary < FCPATCH_DICT_MIN || s->dictionary > FCPATCH_DICT_MAX) return FCPATCH_E_BAD_HEADER;
        if (s->length >= two62 || s->compressed >= two62) return FCPATCH_E_BAD_HEADER;
        /* An LZMA2 stream is at least its end marker. off <= patch_size holds here. */
        if (s->compressed == 0 || s->compressed > patch_size - off) return FCPATCH_E_BAD_HEADER;
        s->offset = off;
        off += s->compressed;
    }
    if (off != patch_size) return FCPATCH_E_BAD_HEADER;
    /* §3: newpos ends at N and adds up every add (the diff section) and every copy (extra). */
    /* Diff and extra hold at most N bytes between them (adds flagged as copies of old take none). */
    if (h.section[1].length > h.new_size || h.section[2].length > h.new_size - h.section[1].length)
        return FCPATCH_E_BAD_HEADER;
    /* §2: T triples of three LEB128 values below 2^63 take 3T ... 27T bytes. */
    if (h.triples > h.section[0].length / 3 || (h.section[0].length + 26) / 27 > h.triples)
        return FCPATCH_E_BAD_HEADER;
    /* §3: at most 1024 triples make nothing, so T <= N + 1024 (decoding work follows N). */
    if (h.triples > h.new_size + FCPATCH_MAX_EMPTY_TRIPLES) return FCPATCH_E_BAD_HEADER;
    *out = h;
    return FCPATCH_OK;
}

size_t fcpatch_workspace_size(const fcpatch_header *h)
{
    struct layout l;

    if (h == NULL || !plan(h, &l)) return 0;
    return (size_t)l.total;
}

/* ---- sections (§4) ---- */

static int section_start(struct section *s, const fcpatch_section *desc)
{
    static const lzma_stream init = LZMA_STREAM_INIT;
    lzma_options_lzma opt;
    lzma_filter f[2];
    lzma_ret ret;

    s->strm = init;
    s->allocator.alloc = arena_alloc;
    s->allocator.free = arena_free;
    s->allocator.opaque = &s->arena;
    s->strm.allocator = &s->allocator;
    s->next = desc->offset;
    s->end = desc->offset + desc->compressed;
    s->length = desc->length;
    s->produced = 0;
    s->ended = 0;
    lzma2_filters(&opt, f, desc->dictionary);
    ret = lzma_raw_decoder(&s->strm, f);
    if (ret == LZMA_MEM_ERROR) return FCPATCH_E_WORKSPACE;
    if (ret != LZMA_OK) return FCPATCH_E_CORRUPT_SECTION;
    s->started = 1;
    return FCPATCH_OK;
}

/* One lzma_code call on s, fetching compressed bytes first when liblzma has none left. The
 * caller has set next_out/avail_out. Never reads past the section's end. */
static int section_step(struct applier *ap, struct section *s)
{
    size_t in0, out0;
    lzma_ret ret;

    if (s->strm.avail_in == 0 && s->next < s->end) {
        size_t k = s->end - s->next < IN_BUF ? (size_t)(s->end - s->next) : IN_BUF;

        if (ap->io->read_patch(ap->io->ctx, s->next, s->in, k) != 0) return FCPATCH_E_READ;
        s->next += k;
        s->strm.next_in = s->in;
        s->strm.avail_in = k;
    }
    in0 = s->strm.avail_in;
    out0 = s->strm.avail_out;
    /* Once the last byte is handed over the action stays LZMA_FINISH, as liblzma requires. */
    ret = lzma_code(&s->strm, s->next == s->end ? LZMA_FINISH : LZMA_RUN);
    if (ret == LZMA_STREAM_END) {
        s->ended = 1;
        return FCPATCH_OK;
    }
    if (ret == LZMA_MEM_ERROR) return FCPATCH_E_WORKSPACE;
    if (ret != LZMA_OK) return FCPATCH_E_CORRUPT_SECTION;
    /* No progress with room to write means the input ran out before the end marker. */
    if (s->strm.avail_in == in0 && s->strm.avail_out == out0) return FCPATCH_E_CORRUPT_SECTION;
    return FCPATCH_OK;
}

/* Decodes exactly n bytes of s into dst. The caller has checked produced + n <= length. */
static int section_read(struct applier *ap, struct section *s, uint8_t *dst, size_t n)
{
    int rc;

    s->strm.next_out = dst;
    s->strm.avail_out = n;
    while (s->strm.avail_out > 0) {
        if (s->ended) return FCPATCH_E_CORRUPT_SECTION; /* shorter than its length */
        if ((rc = section_step(ap, s)) != FCPATCH_OK) return rc;
    }
    s->produced += n;
    return FCPATCH_OK;
}

/* §4: the stream must end here, with no byte beyond length and none of the file left over. */
static int section_finish(struct applier *ap, struct section *s)
{
    uint8_t spare;
    int rc;

    while (!s->ended) {
        s->strm.next_out = &spare;
        s->strm.avail_out = 1;
        if ((rc = section_step(ap, s)) != FCPATCH_OK) return rc;
        if (s->strm.avail_out == 0) return FCPATCH_E_CORRUPT_SECTION; /* longer than its length */
    }
    if (s->strm.avail_in != 0 || s->next != s->end) return FCPATCH_E_CORRUPT_SECTION;
    return FCPATCH_OK;
}

/* ---- control (§2) ---- */

static int control_byte(struct applier *ap, uint8_t *b)
{
    if (ap->ctl_pos == ap->ctl_len) {
        struct section *s = &ap->sec[0];
        uint64_t left = s->length - s->produced;
        size_t k = left < CTL_BUF ? (size_t)left : CTL_BUF;
        int rc;

        if (k == 0) return FCPATCH_E_BAD_CONTROL; /* a triple runs past the section */
        if ((rc = section_read(ap, s, ap->ctl, k)) != FCPATCH_OK) return rc;
        ap->ctl_pos = 0;
        ap->ctl_len = k;
    }
    *b = ap->ctl[ap->ctl_pos++];
    return FCPATCH_OK;
}

/* LEB128, minimal, below 2^63: nine 7-bit groups hold 63 bits, so a tenth byte would make the
 * value too large or the encoding non-minimal; both are refused. */
static int leb128(struct applier *ap, uint64_t *v)
{
    uint64_t x = 0;
    unsigned i;
    uint8_t b;
    int rc;

    for (i = 0;; i++) {
        if ((rc = control_byte(ap, &b)) != FCPATCH_OK) return rc;
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) break;
        if (i == 8) return FCPATCH_E_BAD_CONTROL;
    }
    if (i > 0 && b == 0) return FCPATCH_E_BAD_CONTROL; /* e.g. 80 00 */
    *v = x;
    return FCPATCH_OK;
}

/* ---- applying (§3) ---- */

static int emit(struct applier *ap, size_t n)
{
    fcpatch_sha256_update(&ap->sha, ap->out, n);
    return ap->io->write_new(ap->io->ctx, ap->out, n) == 0 ? FCPATCH_OK : FCPATCH_E_WRITE;
}

static int check_base(struct applier *ap, const fcpatch_header *h, uint64_t old_size)
{
    uint8_t digest[32];
    uint64_t off;

    if (old_size != h->old_size) return FCPATCH_E_WRONG_BASE;
    fcpatch_sha256_init(&ap->sha);
    for (off = 0; off < old_size;) {
        size_t k = old_size - off < DATA_BUF ? (size_t)(old_size - off) : DATA_BUF;

        if (ap->io->read_old(ap->io->ctx, off, ap->old, k) != 0) return FCPATCH_E_READ;
        fcpatch_sha256_update(&ap->sha, ap->old, k);
        off += k;
    }
    fcpatch_sha256_final(&ap->sha, digest);
    return memcmp(digest, h->old_sha256, 32) == 0 ? FCPATCH_OK : FCPATCH_E_WRONG_BASE;
}

/* Invariants at the top of each triple: oldpos <= O, newpos <= N, newpos is the number of bytes
 * written, and sec[1].produced + sec[2].produced <= newpos (flagged adds read no diff byte). At
 * the end newpos == N and both sections must be used up exactly. */
static int run(struct applier *ap, const fcpatch_header *h)
{
    const uint64_t o = h->old_size, n = h->new_size;
    struct section *diff = &ap->sec[1], *extra = &ap->sec[2];
    uint64_t oldpos = 0, newpos = 0, t, field, add, copy, seek, empty = 0;
    int from_old;
    uint8_t digest[32];
    int rc, i;

    fcpatch_sha256_init(&ap->sha);
    for (t = 0; t < h->triples; t++) {
        if ((rc = leb128(ap, &field)) != FCPATCH_OK || (rc = leb128(ap, &copy)) != FCPATCH_OK ||
            (rc = leb128(ap, &seek)) != FCPATCH_OK)
            return rc;
        /* §2: the add length, and in its lowest bit whether the add copies old as it is. */
        add = field >> 1;
        from_old = (int)(field & 1);
        if (from_old && add == 0) return FCPATCH_E_BAD_CONTROL;

        if (add > o - oldpos || add > n - newpos || (!from_old && add > diff->length - diff->produced))
            return FCPATCH_E_BAD_CONTROL;
        if (add == 0 && copy == 0 && ++empty > FCPATCH_MAX_EMPTY_TRIPLES) return FCPATCH_E_BAD_CONTROL;
        while (add > 0) {
            size_t k = add < DATA_BUF ? (size_t)add : DATA_BUF, j;

            if (from_old) {
                if (ap->io->read_old(ap->io->ctx, oldpos, ap->out, k) != 0) return FCPATCH_E_READ;
            } else {
                if (ap->io->read_old(ap->io->ctx, oldpos, ap->old, k) != 0) return FCPATCH_E_READ;
                if ((rc = section_read(ap, diff, ap->out, k)) != FCPATCH_OK) return rc;
                for (j = 0; j < k; j++) ap->out[j] = (uint8_t)(ap->out[j] + ap->old[j]);
            }
            if ((rc = emit(ap, k)) != FCPATCH_OK) return rc;
            oldpos += k;
            newpos += k;
            add -= k;
        }

        if (copy > n - newpos || copy > extra->length - extra->produced) return FCPATCH_E_BAD_CONTROL;
        while (copy > 0) {
            size_t k = copy < DATA_BUF ? (size_t)copy : DATA_BUF;

            if ((rc = section_read(ap, extra, ap->out, k)) != FCPATCH_OK) return rc;
            if ((rc = emit(ap, k)) != FCPATCH_OK) return rc;
            newpos += k;
            copy -= k;
        }

        /* Zigzag: 2s for s >= 0, -2s - 1 for s < 0. */
        if (seek & 1) {
            uint64_t back = (seek >> 1) + 1;
            if (back > oldpos) return FCPATCH_E_BAD_CONTROL;
            oldpos -= back;
        } else {
            uint64_t forward = seek >> 1;
            if (forward > o - oldpos) return FCPATCH_E_BAD_CONTROL;
            oldpos += forward;
        }
    }
    /* Exactly T triples, exactly length(0) control bytes, exactly N new bytes. */
    if (ap->ctl_pos != ap->ctl_len || ap->sec[0].produced != ap->sec[0].length || newpos != n ||
        diff->produced != diff->length || extra->produced != extra->length)
        return FCPATCH_E_BAD_CONTROL;
    for (i = 0; i < 3; i++)
        if ((rc = section_finish(ap, &ap->sec[i])) != FCPATCH_OK) return rc;
    fcpatch_sha256_final(&ap->sha, digest);
    return memcmp(digest, h->new_sha256, 32) == 0 ? FCPATCH_OK : FCPATCH_E_DIGEST;
}

int fcpatch_apply(const fcpatch_io *io, uint64_t old_size, uint64_t patch_size, uint64_t max_new_size,
                  void *workspace, size_t workspace_size)
{
    uint8_t bytes[FCPATCH_HEADER_SIZE];
    fcpatch_header h;
    struct layout l;
    struct applier *ap;
    uint8_t *base;
    size_t pad;
    int rc, i;

    if (io == NULL || io->read_old == NULL || io->read_patch == NULL || io->write_new == NULL)
        return FCPATCH_E_ARGUMENT;
    if (patch_size < FCPATCH_HEADER_SIZE) return FCPATCH_E_BAD_HEADER;
    if (io->read_patch(io->ctx, 0, bytes, FCPATCH_HEADER_SIZE) != 0) return FCPATCH_E_READ;
    if ((rc = fcpatch_read_header(bytes, patch_size, &h)) != FCPATCH_OK) return rc;
    if (h.new_size > max_new_size) return FCPATCH_E_TOO_LARGE;
    if (!plan(&h, &l) || workspace == NULL || workspace_size < l.total) return FCPATCH_E_WORKSPACE;

    pad = (ALIGN - (size_t)((uintptr_t)workspace % ALIGN)) % ALIGN;
    base = (uint8_t *)workspace + pad;
    ap = (struct applier *)(void *)(base + l.state);
    memset(ap, 0, sizeof *ap);
    ap->io = io;
    ap->ctl = base + l.ctl;
    ap->old = base + l.old;
    ap->out = base + l.out;
    for (i = 0; i < 3; i++) {
        ap->sec[i].in = base + l.in[i];
        ap->sec[i].arena.base = base + l.arena[i];
        ap->sec[i].arena.size = (size_t)l.arena_size[i];
    }

    rc = check_base(ap, &h, old_size);
    for (i = 0; i < 3 && rc == FCPATCH_OK; i++) rc = section_start(&ap->sec[i], &h.section[i]);
    if (rc == FCPATCH_OK) rc = run(ap, &h);
    for (i = 0; i < 3; i++)
        if (ap->sec[i].started) lzma_end(&ap->sec[i].strm);
    return rc;
}

const char *fcpatch_strerror(int status)
{
    switch (status) {
    case FCPATCH_OK: return "success";
    case FCPATCH_E_BAD_HEADER: return "not a firmchain1 patch, or a header field outside its rules";
    case FCPATCH_E_UNSUPPORTED: return "unsupported firmchain1 version, codec or flags";
    case FCPATCH_E_WORKSPACE: return "workspace too small";
    case FCPATCH_E_TOO_LARGE: return "new image larger than allowed";
    case FCPATCH_E_WRONG_BASE: return "wrong base: the old image is not the one the patch was made from";
    case FCPATCH_E_CORRUPT_SECTION: return "corrupt section: LZMA2 error or wrong length";
    case FCPATCH_E_BAD_CONTROL: return "bad control: a triple is malformed or out of bounds";
    case FCPATCH_E_DIGEST: return "the result does not match the patch's sha256 of the new image";
    case FCPATCH_E_READ: return "read error";
    case FCPATCH_E_WRITE: return "write error";
    case FCPATCH_E_ARGUMENT: return "invalid argument";
    default: return "unknown error";
    }
}
