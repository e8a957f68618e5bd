/*
 * The firmchain1 applier (Docs/formats/FIRMCHAIN1.md; the API contract is in fcpatch.h).
 *
 * Everything lives in the caller's workspace, laid out by plan():
 *
 *   [align to 16] state | in[0] in[1] in[2] | ctl | old | out | probs[0..2] | dict[0] dict[1] dict[2]
 *
 * Each section has its own LZMA2 decoder (fcpatch_lzma2.c): a probability table of FCLZ_PROBS
 * entries and a dictionary of the size the header names, nothing else. The sections are decoded
 * in step: the control section a few bytes ahead, diff and extra exactly as the triples consume
 * them.
 */
#include "fcpatch.h"
#include "fcpatch_lzma2.h"

#include <string.h>

#define ALIGN 16u
/* Compressed bytes fetched per read_patch call, per section. */
#define IN_BUF 1024u
/* Decoded control bytes kept ahead of the parser; a triple is at most 27 bytes. */
#define CTL_BUF 256u
/* Old, diff and new bytes handled per step of an add or copy. */
#define DATA_BUF 2048u

static const uint64_t two62 = (uint64_t)1 << 62;

/* ---- workspace layout ---- */

struct applier;

struct section {
    fclz z;
    struct applier *ap;
    uint8_t *in;
    uint64_t next;     /* file offset of the first compressed byte not yet handed to the decoder */
    uint64_t end;      /* file offset one past the section */
    uint64_t length;   /* decoded length the header names */
    uint64_t produced; /* decoded bytes handed out so far, <= length */
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
    uint64_t state, in[3], ctl, old, out, probs[3], dict[3];
    uint64_t total; /* including ALIGN - 1 bytes to align an arbitrary workspace pointer */
};

static uint64_t round_up(uint64_t n) { return (n + (ALIGN - 1)) & ~(uint64_t)(ALIGN - 1); }

/* Returns 0 if the total does not fit in size_t. Dictionaries are at most 64 MiB (§1). */
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
        l->probs[i] = off;
        off += round_up(FCLZ_PROBS * sizeof(uint16_t));
    }
    for (i = 0; i < 3; i++) {
        l->dict[i] = off;
        off += round_up(h->section[i].dictionary);
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
    h.diff_shift = bytes[12];
    h.extra_shift = bytes[13];
    if (h.version != 1 || h.codec != 1 || (h.flags & ~FCPATCH_FLAG_CARRY) != 0) return FCPATCH_E_UNSUPPORTED;
    if (h.diff_shift > FCPATCH_MAX_ALIGN_SHIFT || h.extra_shift > FCPATCH_MAX_ALIGN_SHIFT) return FCPATCH_E_UNSUPPORTED;
    if (le(bytes + 14, 2) != 0) return FCPATCH_E_BAD_HEADER;
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
    /* §3: newpos ends at N and adds up every add (the diff section) and every copy (extra).
     * Diff and extra hold at most N bytes between them (adds flagged as copies of old take none),
     * and before each add or copy fewer alignment bytes than its alignment: at most alignment x
     * its bytes. Lengths are below 2^62, so adding 15 cannot overflow. */
    {
        uint64_t da = (uint64_t)1 << h.diff_shift, ea = (uint64_t)1 << h.extra_shift;
        uint64_t diff_bytes = (h.section[1].length + da - 1) >> h.diff_shift;
        uint64_t extra_bytes = (h.section[2].length + ea - 1) >> h.extra_shift;

        if (diff_bytes > h.new_size || extra_bytes > h.new_size - diff_bytes) return FCPATCH_E_BAD_HEADER;
    }
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

/* The decoder's input: the section's next compressed bytes, IN_BUF at a time, none past its end. */
static int section_fill(void *ctx, const uint8_t **next, size_t *avail)
{
    struct section *s = ctx;
    size_t k = s->end - s->next < IN_BUF ? (size_t)(s->end - s->next) : IN_BUF;

    *next = s->in;
    *avail = 0;
    if (k == 0) return FCPATCH_OK;
    if (s->ap->io->read_patch(s->ap->io->ctx, s->next, s->in, k) != 0) return FCPATCH_E_READ;
    s->next += k;
    *avail = k;
    return FCPATCH_OK;
}

static void section_start(struct applier *ap, struct section *s, const fcpatch_section *desc, uint8_t *dict, uint16_t *probs)
{
    s->ap = ap;
    s->next = desc->offset;
    s->end = desc->offset + desc->compressed;
    s->length = desc->length;
    s->produced = 0;
    fclz_init(&s->z, dict, desc->dictionary, probs, section_fill, s);
}

/* Decodes exactly n bytes of s into dst. The caller has checked produced + n <= length. */
static int section_read(struct section *s, uint8_t *dst, size_t n)
{
    int rc = fclz_read(&s->z, dst, n);

    if (rc == FCPATCH_OK) s->produced += n;
    return rc;
}

/* §4: the stream must end here, with no byte beyond length and none of the file left over. */
static int section_finish(struct section *s) { return fclz_finish(&s->z); }

/* ---- control (§2) ---- */

static int control_byte(struct applier *ap, uint8_t *b)
{
    if (ap->ctl_pos == ap->ctl_len) {
        struct section *s = &ap->sec[0];
        uint64_t left = s->length - s->produced;
        size_t k = left < CTL_BUF ? (size_t)left : CTL_BUF;
        int rc;

        if (k == 0) return FCPATCH_E_BAD_CONTROL; /* a triple runs past the section */
        if ((rc = section_read(s, ap->ctl, k)) != FCPATCH_OK) return rc;
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

/* §3's alignment: the gap zero bytes s holds before the bytes of new position newpos (until its
 * decoded position is congruent to newpos modulo 2^shift). Refused if the section has fewer left
 * or one of them is not zero. Uses ap->out as scratch (nothing is pending in it). */
static int skip_alignment(struct applier *ap, struct section *s, uint64_t newpos, unsigned shift)
{
    size_t gap = (size_t)((newpos - s->produced) & (((uint64_t)1 << shift) - 1)), j;
    int rc;

    if (gap == 0) return FCPATCH_OK;
    if (gap > s->length - s->produced) return FCPATCH_E_BAD_CONTROL;
    if ((rc = section_read(s, ap->out, gap)) != FCPATCH_OK) return rc;
    for (j = 0; j < gap; j++)
        if (ap->out[j] != 0) return FCPATCH_E_CORRUPT_SECTION;
    return FCPATCH_OK;
}

/* Invariants at the top of each triple: oldpos <= O, newpos <= N, newpos is the number of bytes
 * written, and sec[1].produced <= newpos + (its padding so far), likewise sec[2] (flagged adds read
 * no diff byte). At the end newpos == N and both sections must be used up exactly. */
static int run(struct applier *ap, const fcpatch_header *h)
{
    const uint64_t o = h->old_size, n = h->new_size;
    struct section *diff = &ap->sec[1], *extra = &ap->sec[2];
    uint64_t oldpos = 0, newpos = 0, t, field, add, copy, seek, empty = 0;
    int from_old, carry;
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

        if (add > o - oldpos || add > n - newpos) return FCPATCH_E_BAD_CONTROL;
        if (add == 0 && copy == 0 && ++empty > FCPATCH_MAX_EMPTY_TRIPLES) return FCPATCH_E_BAD_CONTROL;
        if (!from_old && add > 0 && (rc = skip_alignment(ap, diff, newpos, h->diff_shift)) != FCPATCH_OK) return rc;
        if (!from_old && add > diff->length - diff->produced) return FCPATCH_E_BAD_CONTROL;
        carry = 0;
        while (add > 0) {
            size_t k = add < DATA_BUF ? (size_t)add : DATA_BUF, j;

            if (from_old) {
                if (ap->io->read_old(ap->io->ctx, oldpos, ap->out, k) != 0) return FCPATCH_E_READ;
            } else {
                if (ap->io->read_old(ap->io->ctx, oldpos, ap->old, k) != 0) return FCPATCH_E_READ;
                if ((rc = section_read(diff, ap->out, k)) != FCPATCH_OK) return rc;
                if (h->flags & FCPATCH_FLAG_CARRY) {
                    /* §3: old + stored byte (signed) + carry in lies in [-129, 383]; its bits
                     * above the low 8 (-1, 0 or 1) carry into the next byte of the add. */
                    for (j = 0; j < k; j++) {
                        int stored = ap->out[j] < 0x80 ? (int)ap->out[j] : (int)ap->out[j] - 0x100;
                        int v = (int)ap->old[j] + stored + carry;
                        ap->out[j] = (uint8_t)v; /* v mod 256, for negative v too (C99 6.3.1.3) */
                        carry = v < 0 ? -1 : v > 0xFF ? 1 : 0;
                    }
                } else {
                    for (j = 0; j < k; j++) ap->out[j] = (uint8_t)(ap->out[j] + ap->old[j]);
                }
            }
            if ((rc = emit(ap, k)) != FCPATCH_OK) return rc;
            oldpos += k;
            newpos += k;
            add -= k;
        }

        if (copy > n - newpos) return FCPATCH_E_BAD_CONTROL;
        if (copy > 0 && (rc = skip_alignment(ap, extra, newpos, h->extra_shift)) != FCPATCH_OK) return rc;
        if (copy > extra->length - extra->produced) return FCPATCH_E_BAD_CONTROL;
        while (copy > 0) {
            size_t k = copy < DATA_BUF ? (size_t)copy : DATA_BUF;

            if ((rc = section_read(extra, ap->out, k)) != FCPATCH_OK) return rc;
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
        if ((rc = section_finish(&ap->sec[i])) != FCPATCH_OK) return rc;
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
        section_start(ap, &ap->sec[i], &h.section[i], base + l.dict[i], (uint16_t *)(void *)(base + l.probs[i]));
    }

    rc = check_base(ap, &h, old_size);
    if (rc == FCPATCH_OK) rc = run(ap, &h);
    return rc;
}

const char *fcpatch_strerror(int status)
{
    switch (status) {
    case FCPATCH_OK: return "success";
    case FCPATCH_E_BAD_HEADER: return "not a firmchain1 patch, or a header field outside its rules";
    case FCPATCH_E_UNSUPPORTED: return "unsupported firmchain1 version, codec, flags or alignment";
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
