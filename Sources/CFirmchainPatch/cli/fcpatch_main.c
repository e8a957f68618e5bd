/*
 * fcpatch [-v] OLD PATCH NEW: applies a firmchain1 patch with the C applier, as a device's
 * updater would, through one workspace buffer of fcpatch_workspace_size() bytes.
 *
 * NEW appears only complete and verified: the image is written to a temporary file beside it
 * and renamed into place on success; on any failure the temporary is removed and one line
 * `fcpatch: PATCH: reason` goes to stderr. Exit codes (sysexits.h values, spelled out so the
 * file stays C99): 0 success, 1 the wrong old image (wrong base), 64 usage, 65 malformed
 * patch (a result whose sha256 is not the patch's included: the patch is corrupt, as
 * `firmchain delta apply` says too), 74 I/O (and a workspace that cannot be allocated).
 * -v prints the workspace size to stdout.
 */
#define _POSIX_C_SOURCE 200809L

#include "fcpatch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { EXIT_VERIFY = 1, EXIT_USAGE = 64, EXIT_DATAERR = 65, EXIT_IOERR = 74 };

struct files {
    int old_fd, patch_fd, new_fd;
    int write_errno; /* errno of the failed write, for the message */
};

static int read_at(int fd, uint64_t offset, uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t r = pread(fd, buf, len, (off_t)offset);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1; /* an error, or the file shrank under us */
        buf += r;
        len -= (size_t)r;
        offset += (uint64_t)r;
    }
    return 0;
}

static int read_old(void *ctx, uint64_t offset, uint8_t *buf, size_t len)
{
    return read_at(((struct files *)ctx)->old_fd, offset, buf, len);
}

static int read_patch(void *ctx, uint64_t offset, uint8_t *buf, size_t len)
{
    return read_at(((struct files *)ctx)->patch_fd, offset, buf, len);
}

static int write_new(void *ctx, const uint8_t *buf, size_t len)
{
    struct files *f = ctx;
    while (len > 0) {
        ssize_t w = write(f->new_fd, buf, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            f->write_errno = w < 0 ? errno : EIO;
            return -1;
        }
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

static int exit_code(int status)
{
    switch (status) {
    case FCPATCH_E_WRONG_BASE:
        return EXIT_VERIFY;
    case FCPATCH_E_READ:
    case FCPATCH_E_WRITE:
    case FCPATCH_E_WORKSPACE:
        return EXIT_IOERR;
    default:
        return EXIT_DATAERR;
    }
}

static const char *patch_name = "";

static int fail(int code, const char *what, const char *detail)
{
    if (detail != NULL)
        fprintf(stderr, "fcpatch: %s: %s: %s\n", patch_name, what, detail);
    else
        fprintf(stderr, "fcpatch: %s: %s\n", patch_name, what);
    return code;
}

static int open_sized(const char *path, uint64_t *size)
{
    struct stat st;
    int fd = open(path, O_RDONLY), saved;
    if (fd < 0) return -1;
    errno = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        /* Regular files only: the size comes from fstat. */
        saved = errno != 0 ? errno : EINVAL;
        close(fd);
        errno = saved;
        return -1;
    }
    *size = (uint64_t)st.st_size;
    return fd;
}

/* Everything after the files are open; the caller closes them and removes tmp on failure. */
static int apply(struct files *f, uint64_t old_size, uint64_t patch_size, const char *old_path, int verbose)
{
    uint8_t bytes[FCPATCH_HEADER_SIZE];
    fcpatch_header h;
    fcpatch_io io;
    size_t need;
    void *workspace;
    int status;

    /* The header first, to size the workspace; fcpatch_apply checks it again itself. */
    if (patch_size < FCPATCH_HEADER_SIZE) return fail(EXIT_DATAERR, fcpatch_strerror(FCPATCH_E_BAD_HEADER), NULL);
    if (read_patch(f, 0, bytes, sizeof bytes) != 0) return fail(EXIT_IOERR, "cannot read the patch", strerror(errno));
    status = fcpatch_read_header(bytes, patch_size, &h);
    if (status != FCPATCH_OK) return fail(exit_code(status), fcpatch_strerror(status), NULL);
    need = fcpatch_workspace_size(&h);
    if (need == 0 || (workspace = malloc(need)) == NULL)
        return fail(EXIT_IOERR, "cannot allocate the workspace", NULL);
    if (verbose) printf("fcpatch: workspace %lu bytes\n", (unsigned long)need);

    io.ctx = f;
    io.read_old = read_old;
    io.read_patch = read_patch;
    io.write_new = write_new;
    f->write_errno = 0;
    status = fcpatch_apply(&io, old_size, patch_size, UINT64_MAX, workspace, need);
    free(workspace);
    switch (status) {
    case FCPATCH_OK: break;
    case FCPATCH_E_READ: return fail(EXIT_IOERR, "read error on the old image or the patch", old_path);
    case FCPATCH_E_WRITE: return fail(EXIT_IOERR, "cannot write", strerror(f->write_errno));
    default: return fail(exit_code(status), fcpatch_strerror(status), NULL);
    }
    if (fsync(f->new_fd) != 0) return fail(EXIT_IOERR, "cannot write", strerror(errno));
    return 0;
}

int main(int argc, char **argv)
{
    struct files f = {-1, -1, -1, 0};
    const char *old_path, *new_path;
    uint64_t old_size = 0, patch_size = 0;
    char *tmp;
    size_t n;
    int verbose = 0, code;

    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        verbose = 1;
        argv++;
        argc--;
    }
    if (argc != 4) {
        fprintf(stderr, "usage: fcpatch [-v] OLD PATCH NEW\n");
        return EXIT_USAGE;
    }
    old_path = argv[1];
    patch_name = argv[2];
    new_path = argv[3];

    if ((f.patch_fd = open_sized(patch_name, &patch_size)) < 0)
        return fail(EXIT_IOERR, "cannot open the patch", strerror(errno));
    if ((f.old_fd = open_sized(old_path, &old_size)) < 0) {
        code = fail(EXIT_IOERR, "cannot open the old image", strerror(errno));
        close(f.patch_fd);
        return code;
    }
    /* Beside NEW, so the rename stays on one file system. */
    n = strlen(new_path) + sizeof ".fcpatch-XXXXXX";
    if ((tmp = malloc(n)) == NULL) {
        close(f.old_fd);
        close(f.patch_fd);
        return fail(EXIT_IOERR, "out of memory", NULL);
    }
    snprintf(tmp, n, "%s.fcpatch-XXXXXX", new_path);
    if ((f.new_fd = mkstemp(tmp)) < 0) {
        code = fail(EXIT_IOERR, "cannot create a temporary beside NEW", strerror(errno));
    } else {
        /* mkstemp makes it 0600; give it the mode a plain create would. */
        mode_t mask = umask(0);
        umask(mask);
        (void)fchmod(f.new_fd, 0666 & ~mask);
        code = apply(&f, old_size, patch_size, old_path, verbose);
        if (close(f.new_fd) != 0 && code == 0) code = fail(EXIT_IOERR, "cannot write", strerror(errno));
        if (code == 0 && rename(tmp, new_path) != 0) code = fail(EXIT_IOERR, "cannot rename into place", strerror(errno));
        if (code != 0) unlink(tmp);
    }
    free(tmp);
    close(f.old_fd);
    close(f.patch_fd);
    return code;
}
