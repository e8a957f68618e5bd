/*
 * lzma2_probe: the applier's LZMA2 decoder (Sources/CFirmchainPatch/fcpatch_lzma2.c) against
 * liblzma, which encodes here and nowhere in the applier. CApplierBuildTests.swift builds it with
 * address and undefined-behaviour sanitizers and runs it; exit 0 means every check held.
 *
 *   1. Generated inputs (random, small alphabets, zero runs between sparse changes as in a diff
 *      section, repeats at near and far distances, a 4-byte-aligned pattern), each encoded by
 *      liblzma's raw LZMA2 encoder under a spread of options (presets 0-9, fast and normal modes,
 *      lc/lp/pb with lc + lp <= 3, dictionaries 4 KiB to 1 MiB and one of 5,000 bytes), some as two streams joined at a
 *      dictionary reset the way Firmchain's writer joins pieces: the decoder, fed its input and
 *      asked for output in uneven pieces, gives back the input byte for byte and finishes cleanly.
 *   2. Refusals: lc + lp = 4; the end marker missing; a byte after it; one byte more asked for
 *      than the stream holds; the stream cut anywhere.
 *   3. Bit flips in every stream: the decoder returns (either way) without a sanitizer report.
 *
 *   4. A dictionary size that is not a multiple of 16 is rounded up as liblzma rounds it.
 *
 * Prints "N streams, B bytes decoded, R refusals, F flips" and exits 0, or names the failed
 * check and exits 1.
 */
#include "fcpatch.h"
#include "fcpatch_lzma2.h"

#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9E3779B97F4A7C15u;

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static void generate(uint8_t *p, size_t n, int kind)
{
    size_t i;

    switch (kind) {
    case 0: /* random */
        for (i = 0; i < n; i++) p[i] = (uint8_t)next();
        break;
    case 1: /* small alphabet */
        for (i = 0; i < n; i++) p[i] = (uint8_t)('a' + next() % 5);
        break;
    case 2: /* a diff section: zero runs between sparse small values */
        memset(p, 0, n);
        for (i = 0; i < n; i += 1 + next() % 300) p[i] = (uint8_t)(next() % 7 ? next() % 4 : next());
        break;
    case 3: /* repeats of earlier stretches, near and far, with changes */
        for (i = 0; i < n && i < 4096; i++) p[i] = (uint8_t)next();
        while (i < n) {
            size_t len = 2 + next() % 400, from = i - 1 - next() % (i < 300000 ? i : 300000), k;

            for (k = 0; k < len && i < n; k++, i++) p[i] = next() % 50 ? p[from + k] : (uint8_t)next();
        }
        break;
    default: /* 4-byte words from a small table, as in code */
        for (i = 0; i + 4 <= n; i += 4) {
            uint32_t w = 0x94000000u | (next() % 64) << 2;
            memcpy(p + i, &w, 4);
        }
        for (; i < n; i++) p[i] = 0;
        break;
    }
}

/* Raw LZMA2 of p[0..<n] with liblzma; returns the length, 0 on failure. */
static size_t encode(const uint8_t *p, size_t n, uint8_t *out, size_t cap, uint32_t preset, unsigned lc, unsigned lp,
                     unsigned pb, uint32_t dict, int fast)
{
    lzma_options_lzma opt;
    lzma_filter f[2];
    size_t pos = 0;

    if (lzma_lzma_preset(&opt, preset)) return 0;
    opt.lc = lc;
    opt.lp = lp;
    opt.pb = pb;
    opt.dict_size = dict;
    if (fast) opt.mode = LZMA_MODE_FAST;
    f[0].id = LZMA_FILTER_LZMA2;
    f[0].options = &opt;
    f[1].id = LZMA_VLI_UNKNOWN;
    f[1].options = NULL;
    if (lzma_raw_buffer_encode(f, NULL, p, n, out, &pos, cap) != LZMA_OK) return 0;
    return pos;
}

struct src {
    const uint8_t *p;
    size_t n, off;
    size_t step; /* bytes per fill; 0 for random steps */
};

static int fill(void *ctx, const uint8_t **next_in, size_t *avail)
{
    struct src *s = ctx;
    size_t k = s->n - s->off, step = s->step ? s->step : 1 + next() % 5000;

    if (k > step) k = step;
    *next_in = s->p + s->off;
    *avail = k;
    s->off += k;
    return 0;
}

static uint8_t dict[1u << 20];
static uint16_t probs[FCLZ_PROBS];

/* Decodes stream[0..<sn] asking for want bytes in uneven pieces into out; then finishes.
 * Returns 0 when both succeed, else the first error. */
static int decode(const uint8_t *stream, size_t sn, uint32_t dict_size, uint8_t *out, size_t want, size_t step)
{
    struct src s;
    fclz z;
    size_t got = 0;
    int rc;

    s.p = stream;
    s.n = sn;
    s.off = 0;
    s.step = step;
    fclz_init(&z, dict, dict_size, probs, fill, &s);
    while (got < want) {
        size_t k = 1 + next() % 7000;

        if (k > want - got) k = want - got;
        if ((rc = fclz_read(&z, out + got, k)) != 0) return rc;
        got += k;
    }
    return fclz_finish(&z);
}

static int fail(const char *what, int kind, uint32_t preset, unsigned lc, unsigned lp, unsigned pb, uint32_t d)
{
    printf("FAILED: %s (input kind %d, preset %u, lc %u lp %u pb %u, dictionary %u)\n", what, kind, preset, lc, lp, pb, d);
    return 1;
}

int main(void)
{
    static const uint32_t dicts[] = {4096, 16384, 65536, 1u << 20, 5000};
    enum { MAX_IN = 600000, CAP = 2 * MAX_IN + 4096 };
    static uint8_t in[MAX_IN], stream[CAP], second[CAP], out[MAX_IN + 1];
    unsigned long streams = 0, refusals = 0, flips = 0;
    unsigned long long bytes = 0;
    int round;

    for (round = 0; round < 60; round++) {
        int kind = round % 5, join = round % 3 == 2;
        uint32_t preset = (uint32_t)(round * 7 % 10), d = dicts[round % 5];
        unsigned lc = next() % 4, lp = next() % (4 - lc), pb = next() % 5;
        int fast = round % 4 == 1;
        size_t n = round < 5 ? (size_t)round * 3 : 1 + next() % (round % 6 == 0 ? MAX_IN : 70000), half = n / 2;
        size_t sn, sn2, i;
        int rc;

        generate(in, n, kind);
        if (join && half > 0) {
            /* Two pieces, each from a dictionary reset; the first loses its end marker. */
            sn = encode(in, half, stream, CAP, preset, lc, lp, pb, d, fast);
            sn2 = encode(in + half, n - half, second, CAP, preset, lc, lp, pb, d, fast);
            if (sn == 0 || sn2 == 0 || stream[sn - 1] != 0) return fail("liblzma could not encode", kind, preset, lc, lp, pb, d);
            memcpy(stream + sn - 1, second, sn2);
            sn = sn - 1 + sn2;
        } else {
            sn = encode(in, n, stream, CAP, preset, lc, lp, pb, d, fast);
            if (sn == 0) return fail("liblzma could not encode", kind, preset, lc, lp, pb, d);
        }
        streams++;

        /* 1. Byte for byte, input fed 1 byte at a time for small streams, else in uneven steps. */
        memset(out, 0xA5, n + 1);
        if ((rc = decode(stream, sn, d, out, n, sn < 20000 ? 1 : 0)) != 0) return fail("a valid stream was refused", kind, preset, lc, lp, pb, d);
        if (memcmp(out, in, n) != 0) return fail("decoded bytes differ from the input", kind, preset, lc, lp, pb, d);
        bytes += n;

        /* 2. Refusals. */
        if (decode(stream, sn, d, out, n + 1, 0) == 0) return fail("one byte more than the stream holds was given", kind, preset, lc, lp, pb, d);
        if (decode(stream, sn - 1, d, out, n, 0) == 0) return fail("a stream without its end marker was accepted", kind, preset, lc, lp, pb, d);
        stream[sn] = 0;
        if (decode(stream, sn + 1, d, out, n, 0) == 0) return fail("a byte after the end marker was accepted", kind, preset, lc, lp, pb, d);
        for (i = 0; i < 8; i++) {
            size_t cut = next() % sn;
            if (decode(stream, cut, d, out, n, 0) == 0) return fail("a cut stream was accepted", kind, preset, lc, lp, pb, d);
        }
        refusals += 11;
        if (n > 0) {
            size_t s4 = encode(in, n, second, CAP, preset, 4 - lp, lp, pb, d, fast);
            if (s4 == 0) return fail("liblzma could not encode lc + lp = 4", kind, preset, lc, lp, pb, d);
            /* (liblzma stores inputs it cannot shrink as plain chunks, which name no properties.) */
            if (second[0] >= 0x80) {
                if (decode(second, s4, d, out, n, 0) != FCPATCH_E_CORRUPT_SECTION) return fail("lc + lp = 4 was accepted", kind, preset, 4 - lp, lp, pb, d);
                refusals++;
            }
        }

        /* 3. Bit flips: any answer, no sanitizer report. */
        for (i = 0; i < 20; i++) {
            size_t bit = next() % (sn * 8);

            stream[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            (void)decode(stream, sn, d, out, n, 0);
            stream[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            flips++;
        }
    }
    /* 4. A dictionary that is not a multiple of 16 is rounded up as liblzma rounds it: a match
     *    4,105 bytes back is valid under a header's 4,100 (liblzma uses 4,112). */
    {
        size_t n = 4105 + 300, sn;

        generate(in, 4105, 0);
        memcpy(in + 4105, in, 300);
        sn = encode(in, n, stream, CAP, 6, 3, 0, 2, 4112, 0);
        if (sn == 0 || sn >= n) return fail("liblzma did not find the far match", 0, 6, 3, 0, 2, 4112);
        if (decode(stream, sn, 4100, out, n, 0) != 0 || memcmp(out, in, n) != 0)
            return fail("a match inside the rounded dictionary was refused", 0, 6, 3, 0, 2, 4100);
        streams++;
        bytes += n;
    }
    printf("%lu streams, %llu bytes decoded, %lu refusals, %lu flips\n", streams, bytes, refusals, flips);
    return 0;
}
