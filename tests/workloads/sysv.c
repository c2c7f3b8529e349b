// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sysv: the calls that change the address space besides mmap and friends: SysV shared memory
 * (shmat, shmdt), pkey_mprotect, and a MAP_GROWSDOWN mapping that then grows by a page fault
 * (which the kernel counts in VmStk as well as VmSize).
 *
 * usage: sysv [-w] [-W]
 *   -w  print "ready <pid>" on stderr and wait for a byte on stdin before the measured phase
 *   -W  after it print "done <pid>" on stderr and wait for a byte on stdin before exiting
 *
 * Measured phase (main thread; the segment is 3 pages + 100 bytes: its mappings are 16 KiB):
 *   shmat(ID, NULL, 0) = A                                        vm +16K
 *   shmat(ID, NULL, SHM_RDONLY) = B                               vm +16K
 *   mmap(NULL, 32768, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = M   vm +32K
 *   shmat(ID, M + 4096, SHM_REMAP) = M + 4096                     vm 0 (replaces 16K of M)
 *   shmdt(A) = 0                                                  vm -16K
 *   shmdt(M + 4096) = 0                                           vm -16K (a hole in M)
 *   mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = P    vm +8K
 *   pkey_mprotect(P, 4096, PROT_READ, -1) = 0                     vm 0 (a plain mprotect)
 *   pkey_mprotect(P, 4096, PROT_READ, 5) = -1 EINVAL              (key 5 was never allocated)
 *   mmap(G0, 65536, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_GROWSDOWN|
 *        MAP_FIXED_NOREPLACE, -1, 0) = G0                         vm +64K
 *   a write 8 pages below G0: the mapping grows by 8 pages (32 KiB), no syscall
 * -> calls shmat 3, shmdt 2, mmap 3, pkey_mprotect 2 (1 error); net of the calls +88K, VmSize
 *    +120K (the growth by the fault is in VmStk too); B, M's 4 pages left, P and G stay.
 * G0 is 0x200000000000, far from everything else, so the stack has room to grow.
 */
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include "common.h"

#define USAGE "sysv [-w] [-W]"
#define G0 0x200000000000UL

int main(int argc, char **argv)
{
	struct wl_handshakes wait = wl_parse_handshakes(argc, argv, USAGE);
	char *a, *m, *p, *g;
	int id;

	id = shmget(IPC_PRIVATE, 3 * PG + 100, IPC_CREAT | 0600);
	if (id < 0)
		wl_die("shmget");
	if (wait.start)
		wl_handshake("ready");

	a = shmat(id, NULL, 0);
	if (a == (void *)-1 || shmat(id, NULL, SHM_RDONLY) == (void *)-1)
		wl_die("shmat");
	m = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		wl_die("mmap");
	if (shmat(id, m + PG, SHM_REMAP) != m + PG)
		wl_die("shmat remap");
	if (shmdt(a) || shmdt(m + PG))
		wl_die("shmdt");
	/* Removed now, so that nothing outlives the test; the attached mapping keeps it. */
	shmctl(id, IPC_RMID, NULL);
	p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		wl_die("mmap");
	/* glibc turns key -1 into a plain mprotect: the raw call, as other runtimes make it. */
	if (syscall(SYS_pkey_mprotect, p, PG, PROT_READ, -1))
		wl_die("pkey_mprotect");
	if (syscall(SYS_pkey_mprotect, p, PG, PROT_READ, 5) != -1 || errno != EINVAL)
		wl_die("pkey_mprotect with key 5 did not fail with EINVAL");
	g = mmap((void *)G0, 16 * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN | MAP_FIXED_NOREPLACE, -1, 0);
	if (g != (char *)G0)
		wl_die("mmap growsdown");
	*(volatile char *)(g - 8 * PG) = 1;

	if (wait.end)
		wl_handshake("done");
	return 0;
}
