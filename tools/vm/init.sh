#!/bin/busybox sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The init of make check-kernels' initramfs (tools/vm/check_kernels.py builds it with
# busybox-static and the kernel's own modules): the host's root file system, shared read-only
# over 9p, under a tmpfs overlay (the virtme approach: no disk image), then /vmout/run.sh (the
# test command, from a second, writable 9p share) in it, then power off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# modules.order lists the kernel's modules 9p and overlay need, dependencies first.
while read -r m; do
	insmod "/modules/$m" || echo "vm-init: insmod $m failed"
done </modules.order

mkdir -p /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro root /lower ||
	{ echo "vm-init: cannot mount the host root (9p)"; poweroff -f; }
mount -t tmpfs -o size=1g rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot ||
	{ echo "vm-init: cannot mount the overlay"; poweroff -f; }
mkdir -p /newroot/vmout
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 vmout /newroot/vmout ||
	{ echo "vm-init: cannot mount the output share"; poweroff -f; }

cd /newroot
mount -t proc proc proc
mount -t sysfs sys sys
mount -t devtmpfs dev dev
mkdir -p dev/pts dev/shm
mount -t devpts devpts dev/pts
mount -t tmpfs shm dev/shm
mount -t tmpfs tmp tmp
mount -t tmpfs run run
mount -t bpf bpf sys/fs/bpf
mount -t tracefs tracefs sys/kernel/tracing
mount -t debugfs debugfs sys/kernel/debug
mount -t cgroup2 cgroup2 sys/fs/cgroup
ip link set lo up
hostname memwatch-vm
chroot /newroot /bin/sh /vmout/run.sh
echo "vm-init: run.sh exited with status $?"
sync
poweroff -f
