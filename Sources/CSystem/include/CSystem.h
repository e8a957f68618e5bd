#ifndef FIRMCHAIN_CSYSTEM_H
#define FIRMCHAIN_CSYSTEM_H

/// Exchanges the directory entries `a` and `b` in one step (Linux renameat2 RENAME_EXCHANGE):
/// each path names the other's file or directory afterwards, and no reader ever finds either
/// path missing. Both must exist on the same file system. Returns 0, or -1 with errno set
/// (ENOSYS or EINVAL where the kernel or file system cannot exchange).
int firmchain_exchange_paths(const char *a, const char *b);

#endif
